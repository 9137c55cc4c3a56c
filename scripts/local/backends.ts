/**
 * The embedded backends: DynamoDB Local (the AWS jar shipped by amplify-dynamodb-simulator,
 * Java 17, in memory) and fauxqs (SQS + SNS, in this process or in a child process), both on
 * 127.0.0.1.
 *
 * DynamoDB Local runs under a small shell guard that kills Java as soon as the guard's stdin
 * closes: on stop(), and also when this process dies for any reason, so none outlives the runner.
 */
import { fork, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { buildApp } from "fauxqs";
import type { FauxqsProcessReady } from "./fauxqs-process.ts";

const EMULATOR_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../node_modules/amplify-dynamodb-simulator/emulator",
);

export interface Backend {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** The process started for it (DynamoDB Local's guard shell, an isolated fauxqs); none in-process. */
  readonly pid?: number | undefined;
  stop(): Promise<void>;
}

export async function startDynamoDbLocal(port = 0, timeoutMs = 30_000): Promise<Backend> {
  const jar = join(EMULATOR_DIR, "DynamoDBLocal.jar");
  if (!existsSync(jar)) throw new Error(`DynamoDB Local not found at ${jar} (npm ci installs it)`);
  const chosen = port === 0 ? await freePort() : port;
  const endpoint = `http://127.0.0.1:${chosen}`;
  const java = [
    "java",
    "-Xms128m",
    "-Xmx768m",
    `-Djava.library.path=${join(EMULATOR_DIR, "DynamoDBLocal_lib")}`,
    "-jar",
    jar,
    "-inMemory",
    "-port",
    String(chosen),
    "-disableTelemetry",
  ]
    .map(shellQuote)
    .join(" ");
  const guard = `${java} & pid=$!; trap 'kill $pid 2>/dev/null' EXIT INT TERM; read -r _ || true; kill $pid 2>/dev/null; wait $pid`;
  // detached: Ctrl-C in a terminal reaches the runner only, which then stops Java in order.
  const child = spawn("sh", ["-c", guard], {
    stdio: ["pipe", "ignore", "pipe"],
    cwd: EMULATOR_DIR,
    detached: true,
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.ref();
      child.stdin?.end();
      await exited;
    }
  };
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited: ${stderr}`);
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`DynamoDB Local did not answer in ${timeoutMs} ms: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, pid: child.pid, stop };
}

export interface FauxqsOptions {
  /**
   * Run fauxqs in a child process (scripts/local/fauxqs-process.ts) instead of this one: for loads
   * where its HTTP work would compete with the caller's (the live benchmark's 1,000 watcher queues).
   * Starting it costs a Node start (~0.3 s), so tests keep it in-process.
   */
  readonly isolated?: boolean;
  readonly timeoutMs?: number;
}

/** fauxqs bound to 127.0.0.1 (its startFauxqs listens on 0.0.0.0, so the app is listened on here). */
export async function startFauxqs(port = 0, options: FauxqsOptions = {}): Promise<Backend> {
  if (options.isolated === true) return startFauxqsProcess(port, options.timeoutMs ?? 30_000);
  const app = buildApp({ logger: false });
  const address = await app.listen({ port, host: "127.0.0.1" });
  return { endpoint: address, stop: () => app.close() };
}

async function startFauxqsProcess(port: number, timeoutMs: number): Promise<Backend> {
  const entry = fileURLToPath(new URL("./fauxqs-process.ts", import.meta.url));
  // No --cpu-prof or inspector flags of the parent: the child is an emulator, not the code measured.
  const child = fork(entry, [String(port)], { stdio: ["ignore", "ignore", "pipe", "ipc"], execArgv: [] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.ref();
      if (child.connected) child.disconnect();
      else child.kill();
      await exited;
    }
  };
  try {
    const endpoint = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fauxqs did not listen in ${timeoutMs} ms: ${stderr}`)),
        timeoutMs,
      );
      child.once("message", (message: FauxqsProcessReady) => {
        clearTimeout(timer);
        resolve(message.endpoint);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`fauxqs exited (${signal ?? code}) before listening: ${stderr}`));
      });
    });
    // The parent's event loop does not wait for the emulator; the IPC channel ending stops it.
    child.unref();
    child.channel?.unref();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    return { endpoint, pid: child.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}
