// The `openai` Node SDK's videos resource against a Reelforge server: create, retrieve until
// done, downloadContent (video and thumbnail) and remix.
//
//   node openai.mjs <server base URL> <api key> <output path>
//
// Prints one JSON line: the created, finished and remixed Video objects as the SDK returned
// them, and the content types it downloaded; the MP4 is written to <output path>. An SDK error
// prints {"error": {...}} and exits with status 2.
import { writeFile } from 'node:fs/promises';
import OpenAI from 'openai';

const [baseUrl, apiKey, output] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseUrl.replace(/\/$/, '')}/v1`, apiKey });

async function finished(id) {
  for (;;) {
    const video = await client.videos.retrieve(id);
    if (video.status === 'completed' || video.status === 'failed') return video;
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

try {
  const created = await client.videos.create({
    prompt: 'a red ball bouncing on a beach',
    model: 'grok-imagine-video',
    size: '848x480',
    seconds: '2',
  });
  const done = await finished(created.id);
  const content = await client.videos.downloadContent(done.id);
  await writeFile(output, new Uint8Array(await content.arrayBuffer()));
  const thumbnail = await client.videos.downloadContent(done.id, { variant: 'thumbnail' });
  const remixed = await client.videos.remix(done.id, { prompt: 'make it black and white' });
  const remix = await finished(remixed.id);
  console.log(
    JSON.stringify({
      created,
      done,
      remix,
      videoType: content.headers.get('content-type'),
      thumbnailType: thumbnail.headers.get('content-type'),
    }),
  );
} catch (error) {
  console.log(JSON.stringify({ error: { status: error.status, message: String(error.message) } }));
  process.exit(2);
}
