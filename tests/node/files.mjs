// The AI SDK's xAI files interface against a Reelforge server: upload (buffered and streamed),
// read metadata, download and delete.
//
//   node files.mjs <server base URL> <api key> <file path>
//
// Prints one JSON line: both uploads as the SDK reports them, the metadata it reads back, whether
// the downloaded bytes match, and what delete returned. The streamed upload is left in place so
// the caller can use its id.
import { readFile } from 'node:fs/promises';
import { createXai } from '@ai-sdk/xai';

const [baseUrl, apiKey, path] = process.argv.slice(2);
const files = createXai({ baseURL: `${baseUrl.replace(/\/$/, '')}/v1`, apiKey }).files();
const bytes = new Uint8Array(await readFile(path));

const summary = upload => ({
  id: upload.providerReference.xai,
  filename: upload.filename,
  byteSize: upload.byteSize,
  createdAt: upload.createdAt?.getTime(),
  expiresAt: upload.expiresAt?.getTime(),
  xai: upload.providerMetadata.xai,
});

const buffered = await files.uploadFile({
  data: { type: 'data', data: bytes },
  mediaType: 'image/png',
  filename: 'buffered.png',
  providerOptions: { xai: { expiresAfter: 3600 } },
});
const streamed = await files.uploadFile({
  data: {
    type: 'stream',
    stream: new ReadableStream({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 1000) controller.enqueue(bytes.slice(at, at + 1000));
        controller.close();
      },
    }),
  },
  mediaType: 'image/png',
  filename: 'streamed.png',
});
const metadata = await files.getFileMetadata({ file: streamed.providerReference });
const download = await files.downloadFile({ file: buffered.providerReference });
const downloaded = new Uint8Array(await new Response(download.content).arrayBuffer());
const deleted = await files.deleteFile({ file: buffered.providerReference });

console.log(
  JSON.stringify({
    buffered: summary(buffered),
    streamed: summary(streamed),
    metadata: summary(metadata),
    downloadMatches: Buffer.from(downloaded).equals(Buffer.from(bytes)),
    downloadMediaType: download.mediaType,
    deleted,
  }),
);
