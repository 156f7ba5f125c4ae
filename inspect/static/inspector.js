// The index page's scripts: a file, not inline, so the admin listener's
// Content-Security-Policy can forbid inline scripts (admin.securityHeaders).
(function(){
  var rows = document.getElementById('rows'), live = document.getElementById('live');
  var es = new EventSource(rows.dataset.stream);
  es.onopen = function(){ live.textContent = 'live: new callbacks appear at the top'; };
  es.onerror = function(){ live.textContent = 'live stream interrupted; reconnecting…'; };
  es.addEventListener('decision', function(ev){
    if (document.getElementById('d-' + ev.lastEventId)) return;
    rows.insertAdjacentHTML('afterbegin', ev.data);
    while (rows.rows.length > 1000) rows.deleteRow(-1);
    if (window.assigndEmulatorRefresh) window.assigndEmulatorRefresh();
  });
})();
// The emulator section follows the emulator without a reload: it is
// fetched again every second, when a callback arrives and after a click;
// "set activity" posts in the background. Without scripts the forms post
// and the page reloads.
(function(){
  if (!document.getElementById('emulator')) return; // no emulator in this process
  var msg = document.getElementById('emulator-message');
  var src = document.getElementById('emulator').dataset.src, last = '', hold = false, busy = false, stale = false;
  function show(text){ msg.textContent = text; msg.hidden = !text; }
  function refresh(){
    if (busy) return;
    busy = true;
    fetch(src, {cache: 'no-store'}).then(function(r){
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.text();
    }).then(function(html){
      var tpl = document.createElement('template');
      tpl.innerHTML = html.trim();
      var fresh = tpl.content.firstElementChild, cur = document.getElementById('emulator');
      // Ages change every second: update them in place, and replace the
      // section only when something else changed and no button is pressed
      // (a click must not land on a row being replaced).
      var ages = {};
      fresh.querySelectorAll('td.age').forEach(function(td){ ages[td.parentNode.id] = td.textContent; td.textContent = ''; });
      var key = fresh.outerHTML;
      if (key !== last && !hold) { cur.replaceWith(fresh); cur = fresh; last = key; }
      cur.querySelectorAll('td.age').forEach(function(td){ if (td.parentNode.id in ages) td.textContent = ages[td.parentNode.id]; });
      if (stale) { stale = false; show(''); }
      busy = false;
    }).catch(function(err){ busy = false; stale = true; show('emulator section not refreshed: ' + err.message); });
  }
  window.assigndEmulatorRefresh = refresh;
  document.addEventListener('pointerdown', function(ev){ hold = !!ev.target.closest('form.set-activity'); });
  ['pointerup', 'pointercancel'].forEach(function(type){
    document.addEventListener(type, function(){ setTimeout(function(){ hold = false; }, 0); });
  });
  document.addEventListener('submit', function(ev){
    var form = ev.target;
    if (!form.matches('form.set-activity') || !ev.submitter) return;
    ev.preventDefault();
    var body = new URLSearchParams({activity_sid: ev.submitter.value});
    form.querySelectorAll('button').forEach(function(b){ b.disabled = true; });
    fetch(form.action, {method: 'POST', body: body, redirect: 'manual'}).then(function(r){
      if (r.type === 'opaqueredirect' || r.ok) { show(''); last = ''; refresh(); return; }
      return r.text().then(function(t){ show(t.trim() || ('HTTP ' + r.status)); last = ''; refresh(); });
    }).catch(function(err){ show('set activity: ' + err.message); last = ''; refresh(); });
  });
  setInterval(function(){ if (!document.hidden) refresh(); }, 1000);
})();
