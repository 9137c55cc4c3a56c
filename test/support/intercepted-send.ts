/**
 * An SDK client whose `send` goes through `intercept` first: a test counts the commands its code
 * sends, or injects what the local stack never answers (throttling, conflicts, unprocessed keys).
 * Every other member is the client's own.
 */
export interface SentCommand {
  readonly constructor: { readonly name: string };
  readonly input: Record<string, unknown>;
}

export type SendIntercept = (
  command: SentCommand,
  send: (command: SentCommand) => Promise<unknown>,
) => Promise<unknown>;

export function interceptSend<C extends object>(client: C, intercept: SendIntercept): C {
  const send = (client as unknown as { send: (command: unknown, ...rest: unknown[]) => Promise<unknown> })
    .send;
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== "send") return Reflect.get(target, property, receiver);
      return (command: SentCommand, ...rest: unknown[]) =>
        intercept(command, (passed) => send.call(target, passed, ...rest));
    },
  });
}
