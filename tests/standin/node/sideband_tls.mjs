// OpenAI's Node SDK, unchanged, as the sideband of a WebRTC call the test's Python peer made (issue 21).
// Usage: OPENAI_BASE_URL=https://127.0.0.1:PORT/v1 OPENAI_API_KEY=x NODE_EXTRA_CA_CERTS=cert.pem node sideband_tls.mjs CALL_ID
// Attaches with OpenAIRealtimeWS({callID}), sends session.update once session.created arrives, hangs the
// call up with client.realtime.calls.hangup once session.updated arrives, and prints one JSON line: the
// event types seen, the instructions session.updated carried, and how the socket ended.
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const callID = process.argv[2];
const client = new OpenAI({ maxRetries: 0 });
const rt = await OpenAIRealtimeWS.create(client, { callID });
const seen = [];
let instructions = null;
let hangup = null;
let timer;
const end = await new Promise((resolve, reject) => {
  rt.socket.on("close", () => resolve("closed"));
  rt.on("error", (err) => reject(err));
  rt.on("event", (event) => {
    seen.push(event.type);
    if (event.type === "session.created") {
      rt.send({ type: "session.update", session: { type: "realtime", instructions: "Set from Node." } });
    } else if (event.type === "session.updated") {
      instructions = event.session.instructions;
      hangup = client.realtime.calls.hangup(callID);
    }
  });
  timer = setTimeout(() => reject(new Error(`no close within 60 s; saw ${seen.join(", ")}`)), 60000);
});
clearTimeout(timer);
if (hangup !== null) {
  await hangup;  // the server may close the socket before the hangup's answer arrives
  seen.push("hangup");
}
console.log(JSON.stringify({ seen, instructions, end, url: rt.url.toString() }));
