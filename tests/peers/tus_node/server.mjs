// The reference tus 1.0 server (@tus/server + @tus/file-store) on 127.0.0.1.
// Usage: node server.mjs <directory>; prints {"port": N} on stdout once it listens.
// The files land in <directory>/<upload id>. Used by tests/video to validate the tus probe and
// as the upload target of the Vimeo-shaped peer.
import http from "node:http";
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const directory = process.argv[2];
if (!directory) {
  console.error("usage: node server.mjs <directory>");
  process.exit(2);
}
const tus = new Server({
  path: "/files",
  datastore: new FileStore({ directory }),
  maxSize: 1024 * 1024 * 1024,
  respectForwardedHeaders: false,
});
const server = http.createServer((req, res) => tus.handle(req, res));
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
