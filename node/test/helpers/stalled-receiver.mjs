// A UDP "daemon" in a worker thread that stops reading: it binds 127.0.0.1 with the smallest
// receive buffer the kernel allows, reports its port, then blocks its thread (Atomics.wait)
// until told to go on, so datagrams pile up in the kernel and the rest are dropped there.
// Woken, it reads what the kernel kept and reports it; told 'close', it closes the socket (the
// port is then closed: "daemon down"). Run on its own (as `node --test` does) it does nothing.
//
// Protocol: workerData.gate is a SharedArrayBuffer of one Int32; the worker posts
// { port } when bound; the parent sets gate[0] = 1 and notifies to wake it; the worker posts
// { kept: string[] } once no datagram arrived for 100 ms; then, on the message 'close', it
// closes the socket and posts { closed: true }.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import dgram from 'node:dgram';

if (!isMainThread && parentPort !== null) await run(parentPort);

/** @param {import('node:worker_threads').MessagePort} port */
async function run(port) {
  const gate = new Int32Array(workerData.gate);
  const socket = dgram.createSocket('udp4');
  const kept = [];
  socket.on('message', (msg) => kept.push(msg.toString('utf8')));
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.setRecvBufferSize(1);
  port.postMessage({ port: socket.address().port, receiveBuffer: socket.getRecvBufferSize() });
  // Blocks this thread's event loop: nothing is read until the parent opens the gate.
  Atomics.wait(gate, 0, 0);
  let seen = -1;
  while (seen !== kept.length) {
    seen = kept.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  port.postMessage({ kept });
  port.once('message', () => socket.close(() => port.postMessage({ closed: true })));
}
