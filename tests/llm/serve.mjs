#!/usr/bin/env node
// The OpenAI-compatible test server: inference-server's express app (routes under /openai/v1)
// over node-llama-cpp's CPU build, serving one GGUF as model "tiny-llama". inference-server has
// no serve command of its own (its CLI only lists/prepares models), hence this script.
//
// Usage: node serve.mjs --model FILE.gguf [--port N] [--host 127.0.0.1] [--concurrency N]
//                       [--cache-dir DIR]
// Prints "listening http://HOST:PORT/openai/v1" once the port is open; the model loads on the
// first request. Stops on SIGTERM/SIGINT.
import path from 'node:path';
import os from 'node:os';
import { InferenceServer, createExpressServer } from 'inference-server';

function parseArgs(argv) {
  const args = { port: 0, host: '127.0.0.1', concurrency: 1, model: '', cacheDir: '' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--port') args.port = Number(value);
    else if (flag === '--host') args.host = value;
    else if (flag === '--concurrency') args.concurrency = Number(value);
    else if (flag === '--model') args.model = path.resolve(value);
    else if (flag === '--cache-dir') args.cacheDir = path.resolve(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!args.model) throw new Error('--model FILE.gguf is required');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const inference = new InferenceServer({
  log: 'warn',
  concurrency: args.concurrency,
  // inference-server keeps a download cache even for local files; keep it out of $HOME.
  cachePath: args.cacheDir || path.join(os.tmpdir(), 'cir-llm-cache'),
  models: {
    'tiny-llama': {
      task: 'text-completion',
      engine: 'node-llama-cpp',
      location: args.model,
      contextSize: 512,
      maxInstances: args.concurrency,
      device: { gpu: false, cpuThreads: 1 },
    },
  },
});
await inference.start();
const http = createExpressServer(inference);
http.listen(args.port, args.host, () => {
  const { port } = http.address();
  console.log(`listening http://${args.host}:${port}/openai/v1`);
});

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  http.close();
  await inference.stop();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
