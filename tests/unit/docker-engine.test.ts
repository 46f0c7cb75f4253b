import { describe, expect, test } from "bun:test";
import { textLines } from "../../src/core/lines.ts";
import { engineAddress, parseDockerHost } from "../../src/docker/address.ts";
import { type ContainerSummary, engineProblem } from "../../src/docker/engine.ts";
import { choosePort } from "../../src/docker/published.ts";

describe("the engine's address", () => {
  test("DOCKER_HOST wins: unix:// and tcp:// (default port 2375, IPv6 in brackets)", () => {
    const none = () => false;
    expect(engineAddress({ DOCKER_HOST: "unix:///run/user/1000/docker.sock" }, none)).toEqual({
      kind: "unix",
      path: "/run/user/1000/docker.sock",
      text: "unix:///run/user/1000/docker.sock",
    });
    expect(parseDockerHost("tcp://127.0.0.1:2376")).toEqual({
      kind: "tcp",
      host: "127.0.0.1",
      port: 2376,
      text: "tcp://127.0.0.1:2376",
    });
    expect(parseDockerHost("tcp://docker.internal")).toMatchObject({ host: "docker.internal", port: 2375 });
    expect(parseDockerHost("tcp://[::1]:2375")).toMatchObject({ host: "::1", port: 2375 });
  });

  test("a TLS engine (DOCKER_TLS_VERIFY) is refused with the reason, not tried over plain HTTP", () => {
    expect(engineAddress({ DOCKER_HOST: "tcp://10.0.0.5:2376", DOCKER_TLS_VERIFY: "1" })).toEqual({
      error:
        "DOCKER_TLS_VERIFY is set: gotunnel reaches tcp://10.0.0.5:2376 over plain HTTP only (TLS engines are not supported)",
    });
    expect(engineAddress({ DOCKER_HOST: "tcp://127.0.0.1:2375", DOCKER_TLS_VERIFY: "" })).toMatchObject({
      kind: "tcp",
    });
  });

  test("an address gotunnel cannot use says so, with the forms it can", () => {
    for (const value of ["ssh://me@box", "npipe:////./pipe/docker_engine", "unix://relative.sock", "tcp://h:1/x"]) {
      expect(parseDockerHost(value)).toEqual({
        error: expect.stringContaining(`DOCKER_HOST=${value} `),
      });
      expect((parseDockerHost(value) as { error: string }).error).toContain(
        "unix:///path/to/docker.sock or tcp://host:port",
      );
    }
  });

  test("without DOCKER_HOST: the first socket that exists (Docker, rootless Docker, rootless Podman, Podman), else Docker's", () => {
    const env = { XDG_RUNTIME_DIR: "/run/user/1000" };
    const only = (path: string) => (candidate: string) => candidate === path;
    expect(engineAddress(env, only("/run/user/1000/podman/podman.sock"))).toMatchObject({
      path: "/run/user/1000/podman/podman.sock",
    });
    expect(engineAddress(env, only("/run/user/1000/docker.sock"))).toMatchObject({
      path: "/run/user/1000/docker.sock",
    });
    expect(engineAddress(env, only("/run/podman/podman.sock"))).toMatchObject({ path: "/run/podman/podman.sock" });
    expect(engineAddress(env, () => true)).toMatchObject({ path: "/var/run/docker.sock" });
    expect(engineAddress({}, () => false)).toEqual({
      kind: "unix",
      path: "/var/run/docker.sock",
      text: "unix:///var/run/docker.sock",
    });
  });
});

const container = (ports: ContainerSummary["ports"], labels: Record<string, string> = {}): ContainerSummary => ({
  id: "abc",
  name: "web",
  created: 0,
  labels: { "gotunnel.route": "web.local", ...labels },
  ports,
});
const published = (privatePort: number, publicPort: number, ip = "127.0.0.1", protocol = "tcp") => ({
  ip,
  privatePort,
  publicPort,
  protocol,
});

describe("which published port a container's route goes to", () => {
  test("the only TCP port; a wildcard bind is reached where the engine is; IPv4 before IPv6", () => {
    expect(choosePort(container([published(8080, 32768)]), "127.0.0.1")).toEqual({
      hostname: "127.0.0.1",
      port: 32768,
      containerPort: 8080,
    });
    const both = [published(80, 49154, "::"), published(80, 49153, "0.0.0.0")];
    expect(choosePort(container(both), "10.0.0.5")).toEqual({ hostname: "10.0.0.5", port: 49153, containerPort: 80 });
    expect(choosePort(container([published(80, 49155, "::1")]), "127.0.0.1")).toMatchObject({ hostname: "::1" });
  });

  test("several ports: gotunnel.port chooses, else the lowest container port (UDP never)", () => {
    const ports = [published(53, 40000, "127.0.0.1", "udp"), published(9090, 40002), published(8080, 40001)];
    expect(choosePort(container(ports), "127.0.0.1")).toMatchObject({ port: 40001, containerPort: 8080 });
    expect(choosePort(container(ports, { "gotunnel.port": "9090" }), "127.0.0.1")).toMatchObject({ port: 40002 });
  });

  test("problems name the label and what the container publishes", () => {
    expect(choosePort(container([]), "127.0.0.1")).toEqual({
      problem: "it publishes no TCP port: run it with -p 127.0.0.1::PORT (or -p PORT), or remove the label",
    });
    expect(choosePort(container([published(8080, 40001)], { "gotunnel.port": "3000" }), "127.0.0.1")).toEqual({
      problem: "label gotunnel.port=3000, but container port 3000/tcp is not published (it publishes 8080)",
    });
    expect(choosePort(container([published(8080, 40001)], { "gotunnel.port": "http" }), "127.0.0.1")).toEqual({
      problem: "label gotunnel.port=http is not a port number (1-65535)",
    });
  });
});

describe("the event stream's lines", () => {
  test("objects split across chunks, several in one chunk, blank lines and a last line without a newline", async () => {
    const chunks = ['{"a":1}\n{"b"', ':2}\n\n{"c":3}\n{"d"', ":4}"];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
        controller.close();
      },
    });
    const lines: string[] = [];
    for await (const line of textLines(body)) lines.push(line);
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}']);
  });
});

describe("what a failed call to the engine means", () => {
  const unix = {
    kind: "unix",
    path: "/run/user/1000/podman/podman.sock",
    text: "unix:///run/user/1000/podman/podman.sock",
  } as const;
  const coded = (code: string) => Object.assign(new Error(`${code}: Was there a typo in the url or port?`), { code });
  test("Bun's URL wording becomes what it means for the socket", () => {
    expect(engineProblem(coded("ENOENT"), unix)).toBe(
      "no socket at /run/user/1000/podman/podman.sock: is the engine running?",
    );
    expect(
      engineProblem(coded("ECONNREFUSED"), {
        kind: "tcp",
        host: "127.0.0.1",
        port: 2375,
        text: "tcp://127.0.0.1:2375",
      }),
    ).toBe("nothing accepts connections at tcp://127.0.0.1:2375: is the engine running?");
    expect(engineProblem(coded("EACCES"), unix)).toContain("permission denied on /run/user/1000/podman/podman.sock");
    expect(engineProblem(new Error("GET /events answered 500: boom"), unix)).toBe("GET /events answered 500: boom");
  });
});
