/**
 * A redis-server of our own on a free loopback port, in a folder of the caller's, append-only
 * file on: for the tests (which kill and restart it) and for `intra bench fleet`.
 *
 * @example const redis = await startRedis('/tmp/r'); ...; await redis.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

import { Redis } from 'ioredis';

import { IntraError } from '../errors.js';

/** A TCP port free on loopback now (for a server of our own: Redis, a group's rendezvous). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  /** SIGKILL: what a power cut does; the append-only file keeps every acknowledged write */
  kill(): Promise<void>;
  /** the server's process id while it runs */
  pid(): number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(dir: string, options: { fsync?: 'always' | 'everysec' } = {}): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const exited = () => new Promise<void>((resolve) => (child && child.exitCode === null && child.signalCode === null ? child.once('exit', () => resolve()) : resolve()));
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', options.fsync ?? 'always'], { stdio: 'ignore' });
      let failed: Error | undefined;
      child.once('error', (error) => (failed = error));
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      for (let attempt = 0; ; attempt++) {
        if (failed) throw new IntraError('INTRA_REDIS', `redis-server could not start (setup.sh installs it with apt): ${failed.message}`);
        try {
          await probe.connect();
          await probe.ping();
          break;
        } catch (error) {
          if (attempt > 100) throw new IntraError('INTRA_REDIS', `redis-server on port ${port} did not answer: ${(error as Error).message}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      probe.disconnect();
    },
    pid: () => child?.pid,
    async kill() {
      const done = exited();
      child?.kill('SIGKILL');
      await done;
    },
    async stop() {
      const done = exited();
      child?.kill('SIGTERM');
      await done;
    },
  };
  await server.start();
  return server;
}
