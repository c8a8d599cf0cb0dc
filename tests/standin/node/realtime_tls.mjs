// OpenAI's Node SDK, unchanged, against a stand-in served over TLS (issue 24, defect 6).
// Usage: OPENAI_BASE_URL=https://127.0.0.1:PORT/v1 OPENAI_API_KEY=x NODE_EXTRA_CA_CERTS=cert.pem node realtime_tls.mjs
// Prints one JSON line: the retrieved model id, the Realtime session's type and the x-request-id.
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const client = new OpenAI({ maxRetries: 0 });
const { data: model, request_id } = await client.models.retrieve("whisper-1").withResponse();
const rt = await OpenAIRealtimeWS.create(client, { model: "gpt-realtime-mini" });  // always wss: for https
let timer;
const session = await new Promise((resolve, reject) => {
  rt.on("session.created", (event) => resolve(event.session));
  rt.on("error", (err) => reject(err));
  timer = setTimeout(() => reject(new Error("no session.created within 60 s")), 60000);
});
clearTimeout(timer);  // a pending timer keeps Node running until it fires
rt.close();
console.log(JSON.stringify({ model: model.id, request_id, session_type: session.type, url: rt.url.toString() }));
