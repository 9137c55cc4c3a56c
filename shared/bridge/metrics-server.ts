/** /metrics (Prometheus text) and /healthz for the bridge, on a port of its own. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(
  port: number,
  render: () => string,
  healthy: () => boolean,
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://bridge").pathname;
    if (path === "/metrics") {
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      response.end(render());
    } else if (path === "/healthz") {
      const ok = healthy();
      response.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
      response.end(ok ? "ok\n" : "starting\n");
    } else {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
