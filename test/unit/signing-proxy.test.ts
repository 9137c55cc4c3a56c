/**
 * The SigV4-signing proxy (shared/agent/signing-proxy.ts) that lets kubectl use the IAM-auth watch
 * function URL: every forwarded request carries a signature for service `lambda` that the
 * receiving side can recompute from what it received, and a streamed answer is passed on as it
 * comes. Also: which URL and region a stack's outputs name.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { SignatureV4 } from "@smithy/signature-v4";
import { proxyTarget, type SigningProxy, startSigningProxy } from "#shared/agent/signing-proxy.ts";
import { NodeSha256 } from "#shared/agent/sigv4-fetch.ts";

const CREDENTIALS = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  sessionToken: "session-token",
};

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let upstream: Server;
let upstreamUrl: string;
let proxy: SigningProxy;
const received: Received[] = [];
let release: () => void = () => {};

before(async () => {
  upstream = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    received.push({
      method: request.method ?? "",
      url: request.url ?? "",
      headers: request.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    });
    response.writeHead(200, { "content-type": "application/json", "x-amzn-requestid": "r-1" });
    response.write('{"type":"ADDED"}\n');
    // The second event only when the test says so: the first must have reached the client already.
    await new Promise<void>((resolve) => {
      release = resolve;
    });
    response.end('{"type":"BOOKMARK"}\n');
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const address = upstream.address() as { port: number };
  upstreamUrl = `http://127.0.0.1:${address.port}/`;
  proxy = await startSigningProxy({
    upstream: upstreamUrl,
    region: "eu-west-1",
    service: "lambda",
    credentials: CREDENTIALS,
    port: 0,
  });
});

after(async () => {
  release();
  await proxy?.stop();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
});

/** The signature the service computes from the request as it arrived, for the headers signed. */
async function expectedAuthorization(request: Received): Promise<string> {
  const authorization = String(request.headers.authorization);
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(";") ?? [];
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) headers[name] = String(request.headers[name]);
  const url = new URL(request.url, upstreamUrl);
  const amzDate = String(request.headers["x-amz-date"]);
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({
    service: "lambda",
    region: "eu-west-1",
    credentials: CREDENTIALS,
    sha256: NodeSha256,
    uriEscapePath: true,
  });
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = value;
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: "http:",
      hostname: url.hostname,
      port: Number(url.port),
      path: decodeURIComponent(url.pathname),
      query,
      headers,
      ...(request.body === "" ? {} : { body: request.body }),
    },
    { signingDate, unsignableHeaders: new Set(), signableHeaders: new Set(signedHeaders) },
  );
  return String(signed.headers.authorization);
}

describe("SigV4 signing proxy", () => {
  it("forwards a watch signed for service lambda, and streams the answer as it comes", async () => {
    const path = "/apis/discovery.k8s.io/v1/endpointslices?watch=true&resourceVersion=0";
    const response = await fetch(`${proxy.url}${path}`, {
      headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io", "accept-encoding": "gzip" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), '{"type":"ADDED"}\n', "before the upstream finished");
    release();
    let rest = "";
    for (let next = await reader.read(); next.done !== true; next = await reader.read())
      rest += new TextDecoder().decode(next.value);
    assert.equal(rest, '{"type":"BOOKMARK"}\n');

    const request = received.at(-1) as Received;
    assert.equal(request.url, path);
    assert.equal(request.headers.accept, "application/json;as=Table;v=v1;g=meta.k8s.io");
    assert.equal(request.headers["x-amz-security-token"], "session-token");
    assert.match(
      String(request.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=[a-z0-9;-]*\bhost\b[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    assert.equal(String(request.headers.authorization), await expectedAuthorization(request));
  });

  it("signs a request body too (watcher registration through the URL)", async () => {
    release = () => {};
    const body = JSON.stringify({ node: "ip-10-0-0-1.ec2.internal", kinds: ["EndpointSlice"] });
    const answer = fetch(`${proxy.url}/v1/watchers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    assert.equal((await answer).status, 200);
    const request = received.at(-1) as Received;
    assert.equal(request.method, "POST");
    assert.equal(request.body, body);
    assert.equal(String(request.headers.authorization), await expectedAuthorization(request));
  });
});

describe("proxyTarget", () => {
  const outputs = {
    Sliceline: {
      ApiUrl: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
      WatchUrl: "https://abcdefghijklmnop.lambda-url.eu-west-1.on.aws/",
    },
    Other: { BucketName: "x" },
  };

  it("takes the stack's WatchUrl for service lambda, or its ApiUrl for execute-api, with the URL's region", () => {
    assert.deepEqual(proxyTarget(outputs), {
      upstream: "https://abcdefghijklmnop.lambda-url.eu-west-1.on.aws/",
      region: "eu-west-1",
      service: "lambda",
    });
    assert.deepEqual(proxyTarget(outputs, { api: true }), {
      upstream: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
      region: "eu-west-1",
      service: "execute-api",
    });
  });

  it("says which stack to name, or that the stack has no watch URL", () => {
    const two = { A: outputs.Sliceline, B: outputs.Sliceline };
    assert.throws(() => proxyTarget(two), /several stacks have WatchUrl \(A, B\): name one with --stack/);
    assert.equal(proxyTarget(two, { stack: "B" }).service, "lambda");
    assert.throws(() => proxyTarget({ Old: { ApiUrl: "x" } }), /no stack with an output WatchUrl/);
  });
});
