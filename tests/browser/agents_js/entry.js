import { RealtimeAgent, RealtimeSession, OpenAIRealtimeWebRTC, tool } from '@openai/agents-realtime';
import { z } from 'zod';

window.runAgent = async function (baseUrl, ephemeralKey) {
  const state = (window.agentState = { events: [], error: null, history: [], peak: 0, status: 'starting' });
  try {
    const audio = document.createElement('audio');
    audio.autoplay = true;
    document.body.appendChild(audio);
    const transport = new OpenAIRealtimeWebRTC({ baseUrl: `${baseUrl}/realtime/calls`, audioElement: audio });
    const agent = new RealtimeAgent({ name: 'Assistant', instructions: 'Answer in one short sentence.' });
    const session = new RealtimeSession(agent, { transport, model: 'gpt-realtime-mini' });
    session.on('transport_event', (e) => state.events.push(e.type));
    session.on('history_updated', (h) => { state.history = h.map((i) => JSON.stringify(i).slice(0, 300)); });
    session.on('error', (e) => { state.error = String(e.error || e); });
    await session.connect({ apiKey: ephemeralKey });
    state.status = 'connected';
    const stream = audio.srcObject;
    const ctx = new AudioContext();
    const an = ctx.createAnalyser();
    ctx.createMediaStreamSource(stream).connect(an);
    const buf = new Float32Array(2048);
    setInterval(() => { an.getFloatTimeDomainData(buf); for (const v of buf) state.peak = Math.max(state.peak, Math.abs(v)); }, 20);
    window.agentSession = session;
  } catch (err) {
    state.error = String(err && err.stack || err);
    state.status = 'failed';
  }
};
