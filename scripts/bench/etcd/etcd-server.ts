/**
 * One etcd server (Debian's etcd-server 3.4, unpacked by scripts/ensure-etcd.sh) on free loopback
 * ports, for the benchmark's kvstore peer and its test. Stopping it kills the process and removes
 * its data directory; a process exit kills it too, so no etcd outlives the run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export class EtcdStartError extends Error {
  override name = "EtcdStartError";
}

export interface EtcdServer {
  readonly clientUrl: string;
  readonly pid: number;
  /** The server's own answer on /version, e.g. "3.4.23". */
  readonly version: string;
  /** CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  readonly dataDir: string;
  /** Defaults to $ETCD_BIN, then the binary ensure-etcd.sh unpacks under .tmp/etcd. */
  readonly binary?: string;
}

/** Where the etcd binary is, or undefined when ensure-etcd.sh has not been run. */
export function findEtcdBinary(): string | undefined {
  const candidates = [process.env.ETCD_BIN, path.join(REPO_ROOT, ".tmp/etcd/usr/bin/etcd")];
  return candidates.find((candidate): candidate is string => !!candidate && existsSync(candidate));
}

export async function startEtcd(options: StartEtcdOptions): Promise<EtcdServer> {
  const binary = options.binary ?? findEtcdBinary();
  if (binary === undefined) throw new EtcdStartError("no etcd binary: run scripts/ensure-etcd.sh");
  mkdirSync(options.dataDir, { recursive: true });
  const [clientPort, peerPort] = await freePorts(2);
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    binary,
    [
      "--name=bench",
      `--data-dir=${path.join(options.dataDir, "member-data")}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=bench=${peerUrl}`,
      "--logger=zap",
      "--log-level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const stderr = tailOf(child);
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener("exit", killOnExit);
    await terminate(child);
    rmSync(options.dataDir, { recursive: true, force: true });
  };
  try {
    const version = await waitForVersion(clientUrl, child, stderr);
    const pid = child.pid as number;
    return { clientUrl, pid, version, cpuSeconds: () => processCpuSeconds(pid), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Ports the kernel just handed out and released: free unless something grabs them in between. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === "object" && address !== null ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function tailOf(child: ChildProcess): () => string {
  let tail = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  });
  return () => tail;
}

async function waitForVersion(clientUrl: string, child: ChildProcess, stderr: () => string): Promise<string> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new EtcdStartError(`etcd exited with ${child.exitCode}: ${stderr()}`);
    }
    try {
      const response = await fetch(`${clientUrl}/version`);
      if (response.ok) {
        const body = (await response.json()) as { etcdserver?: string };
        return body.etcdserver ?? "unknown";
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new EtcdStartError(`etcd did not answer on ${clientUrl} within ${START_TIMEOUT_MS} ms: ${stderr()}`);
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** utime + stime (fields 14 and 15) of /proc/<pid>/stat, in clock ticks of 1/100 s (Linux USER_HZ). */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
