/**
 * fauxqs in a process of its own (startFauxqs({ isolated: true })): the child of a runner or a
 * benchmark, listening on 127.0.0.1, reporting its endpoint over the IPC channel.
 *
 * Why a process: at 1,000 watcher queues every delivery is an SNS→SQS enqueue, a long-poll wake-up,
 * a ReceiveMessage and a DeleteMessageBatch through fauxqs' HTTP server. In the runner's process
 * that work queues behind the handlers (and they behind it); in its own process it has its own
 * event loop and heap, as SQS and SNS are someone else's machines in AWS.
 *
 * It lives exactly as long as its parent: when the IPC channel closes (the parent stopped it, or
 * died) it exits.
 */
import { buildApp } from "fauxqs";

export interface FauxqsProcessReady {
  readonly type: "listening";
  readonly endpoint: string;
}

if (process.send === undefined) {
  console.error("fauxqs-process.ts is started by startFauxqs({ isolated: true }), with an IPC channel");
  process.exit(2);
}
const app = buildApp({ logger: false });
const endpoint = await app.listen({ port: Number(process.argv[2] ?? 0), host: "127.0.0.1" });
process.send({ type: "listening", endpoint } satisfies FauxqsProcessReady);
// Its state is in memory and goes with it: nothing to close in order.
process.once("disconnect", () => process.exit(0));
