// Generate one video with the Vercel AI SDK's xAI provider against a Reelforge server.
//
//   node generate.mjs <server base URL> '<job JSON>'
//
// The job: {mode, model, prompt, duration, aspectRatio, resolution, generateAudio, imagePath,
//           videoPath, referenceImagePaths, pollIntervalMs, apiKey, output, headers, maxRetries}
// where mode is text-to-video | image-to-video | edit-video | extend-video | reference-to-video.
// Prints one JSON line: the video's size, media type and URL, providerMetadata.xai and the
// warnings; the video itself is written to `output`. An SDK error prints {"error": {...}} and
// exits with status 2.
import { readFile, writeFile } from 'node:fs/promises';
import { createXai } from '@ai-sdk/xai';
import { experimental_generateVideo as generateVideo } from 'ai';

const [baseUrl, jobJson] = process.argv.slice(2);
if (!baseUrl || !jobJson) {
  console.error("usage: node generate.mjs <server base URL> '<job JSON>'");
  process.exit(64);
}
const job = JSON.parse(jobJson);
const xai = createXai({
  baseURL: `${baseUrl.replace(/\/$/, '')}/v1`,
  apiKey: job.apiKey ?? process.env.XAI_API_KEY,
  headers: job.headers, // e.g. {"Reelforge-Scenario": "fail"}
});

// The SDK's default download refuses loopback and private addresses (SSRF protection), and a
// local server's video URLs are on 127.0.0.1: fetch them with plain fetch instead.
async function download({ url, abortSignal }) {
  const response = await fetch(url, { signal: abortSignal });
  if (!response.ok) throw new Error(`downloading ${url}: HTTP ${response.status}`);
  return {
    data: new Uint8Array(await response.arrayBuffer()),
    mediaType: response.headers.get('content-type') ?? undefined,
  };
}

async function dataUrl(path, mediaType) {
  return `data:${mediaType};base64,${(await readFile(path)).toString('base64')}`;
}

const pollIntervalMs = job.pollIntervalMs ?? 100;
const xaiOptions = { pollIntervalMs };
if (job.resolution) xaiOptions.resolution = job.resolution;
const options = {
  model: xai.video(job.model ?? 'grok-imagine-video'),
  prompt: job.prompt,
  duration: job.duration,
  aspectRatio: job.aspectRatio,
  generateAudio: job.generateAudio,
  providerOptions: { xai: xaiOptions },
  poll: { intervalMs: pollIntervalMs, timeoutMs: 120_000 },
  download,
  maxRetries: job.maxRetries ?? 0,
};
switch (job.mode ?? 'text-to-video') {
  case 'text-to-video':
    break;
  case 'image-to-video':
    options.prompt = { image: await readFile(job.imagePath), text: job.prompt };
    break;
  case 'edit-video':
  case 'extend-video':
    xaiOptions.mode = job.mode;
    xaiOptions.videoUrl = job.videoUrl ?? (await dataUrl(job.videoPath, 'video/mp4'));
    break;
  case 'reference-to-video':
    xaiOptions.mode = job.mode;
    options.inputReferences = await Promise.all(
      job.referenceImagePaths.map(async path => ({
        data: await readFile(path),
        mediaType: 'image/png',
      })),
    );
    break;
  default:
    throw new Error(`unknown mode ${job.mode}`);
}

const started = Date.now();
try {
  const result = await generateVideo(options);
  if (job.output) await writeFile(job.output, result.video.uint8Array);
  console.log(
    JSON.stringify({
      bytes: result.video.uint8Array.length,
      mediaType: result.video.mediaType,
      url: result.providerMetadata?.xai?.videoUrl,
      providerMetadata: { xai: result.providerMetadata?.xai },
      warnings: result.warnings,
      elapsedMs: Date.now() - started,
    }),
  );
} catch (error) {
  console.log(
    JSON.stringify({
      error: {
        name: error?.name,
        message: error?.message,
        statusCode: error?.statusCode,
        isRetryable: error?.isRetryable,
        retryAfter: error?.responseHeaders?.['retry-after'],
        responseBody: error?.responseBody,
      },
    }),
  );
  process.exit(2);
}
