// The seed tutorial driven by Twilio's Node helper library (npm twilio), unchanged
// but for the base URL, against `assignd dev`'s emulator. Not run by go test
// (it needs node and npm); run it by hand:
//
//   npm install && ACC=AC… TOK=… BASE=http://127.0.0.1:8081 node seed.js
//
// (ACC/TOK as `assignd dev` prints them). It exits non-zero unless the task
// is assigned to Alice and a second accept gets Twilio's 400 20001.
const twilio = require("twilio");
const client = twilio(process.env.ACC, process.env.TOK);
client.taskrouter.baseUrl = process.env.BASE;
(async () => {
  const ws = (await client.taskrouter.v1.workspaces.list({ friendlyName: "TaskRouter Tutorial" }))[0];
  const w = client.taskrouter.v1.workspaces(ws.sid);
  const alice = (await w.workers.list({ friendlyName: "Alice" }))[0];
  const idle = (await w.activities.list({ friendlyName: "Idle" }))[0];
  const wf = (await w.workflows.list())[0];
  console.log("alice", alice.sid, alice.activityName, "workflow", wf.sid);
  const task = await w.tasks.create({ attributes: JSON.stringify({ selected_language: "es" }), workflowSid: wf.sid });
  console.log("task", task.sid, task.assignmentStatus, task.taskQueueFriendlyName);
  await w.workers(alice.sid).update({ activitySid: idle.sid });
  for (let i = 0; i < 100; i++) {
    const t = await w.tasks(task.sid).fetch();
    if (t.assignmentStatus === "assigned") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const rs = await w.tasks(task.sid).reservations.list();
  console.log("reservations", rs.map((r) => `${r.sid} ${r.workerName} ${r.reservationStatus}`).join(", "));
  const status = (await w.tasks(task.sid).fetch()).assignmentStatus;
  console.log("task now", status);
  if (status !== "assigned" || rs.length !== 1 || rs[0].workerName !== "Alice" || rs[0].reservationStatus !== "accepted") {
    throw new Error("want the task assigned to Alice");
  }
  try {
    await w.tasks(task.sid).reservations(rs[0].sid).update({ reservationStatus: "accepted" });
    throw new Error("a second accept succeeded");
  } catch (e) {
    if (e.status !== 400 || e.code !== 20001) throw e;
    console.log("accept again:", e.status, e.code, e.message);
  }
  console.log("OK");
})().catch((e) => { console.error("FAILED", e); process.exit(1); });
