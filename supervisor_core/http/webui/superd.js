// superd web UI: keeps the status table live from /events (Server-Sent Events).
//
// The page works without this script (plain forms, server-rendered rows). With it:
// rows change state, pid and description in place as events arrive, a feed lists
// the last events with their cause (and who asked, for requested ones), and a
// Restarts column counts automatic restarts. A restart is a STARTING whose cause is
// one of the page's data-restart-causes (the server writes the core's rule there);
// the count starts from the server's own (/events/restarts: since superd started,
// from the journal) and adds the live ones. A STORM badge marks the programs in a
// restart storm: /storms says who is in one when the page opens, the live
// PROCESS_STORM_BEGIN/END events keep it current (no storm extension: /storms is a
// 404 and the page asks for no STORM events). CPU and memory come from /metrics
// (the Prometheus extension's psutil sampler), read every SAMPLE_SECONDS: resource
// figures are not events; states never are polled. Last exit comes from the exit
// events, or from /metrics' last exit code before the page saw one. When the server
// has no /events (the journal extension is off: 404) the page says so and offers a
// manual refresh. All text goes in through textContent, never HTML.
"use strict";

(function () {
  const HISTORY_SERIALS = 1000; // how far back the feed starts
  const TYPES = "PROCESS_STATE,PROCESS_GROUP,SUPERVISOR_STATE_CHANGE";
  const SAMPLE_SECONDS = 3; // how often /metrics is read for CPU and memory
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  const body = document.body;
  if (!body.classList.contains("page-status")) {
    return;
  }
  const RESTART_CAUSES = new Set((body.dataset.restartCauses || "").split(" ").filter(Boolean));

  // Confirm the bulk actions (a form submitter carries data-confirm).
  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });

  const rows = new Map();
  for (const tr of document.querySelectorAll("tr[data-namespec]")) {
    rows.set(tr.dataset.namespec, {
      tr: tr,
      start: parseFloat(tr.dataset.start) || 0,
      stop: 0,
      restarts: 0,
      exitSeen: false, // an exit event set the Last exit cell: /metrics no longer does
    });
  }
  const skew = (parseFloat(body.dataset.serverNow) || Date.now() / 1000) - Date.now() / 1000;
  const live = document.getElementById("live");
  const feedSection = document.getElementById("feed-section");
  const feed = document.getElementById("feed");
  const feedSize = parseInt(feed ? feed.dataset.size : "50", 10) || 50;
  const feedFilter = document.getElementById("feed-filter");
  let stale = false;
  let previousCpu = null; // {at, seconds: Map namespec -> CPU seconds}

  function serverNow() {
    return Date.now() / 1000 + skew;
  }

  function stateClass(state) {
    if (state === "RUNNING") return "state-running";
    if (state === "FATAL" || state === "BACKOFF") return "state-error";
    return "state-nominal";
  }

  function pad2(n) {
    return String(n).padStart(2, "0");
  }

  // Python's str(timedelta): "0:01:02", "1 day, 2:03:04", "3 days, 0:00:00".
  function uptime(seconds) {
    let s = Math.max(0, Math.floor(seconds));
    const days = Math.floor(s / 86400);
    s -= days * 86400;
    const clock = Math.floor(s / 3600) + ":" + pad2(Math.floor(s / 60) % 60) + ":" + pad2(s % 60);
    if (days === 0) return clock;
    return days + (days === 1 ? " day, " : " days, ") + clock;
  }

  // supervisord's stop time: "Nov 25 05:43 PM", local time.
  function stopTime(wall) {
    const d = new Date(wall * 1000);
    const h = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
    return MONTHS[d.getMonth()] + " " + pad2(d.getDate()) + " " + pad2(h) + ":" +
      pad2(d.getMinutes()) + " " + (d.getHours() < 12 ? "AM" : "PM");
  }

  function clockTime(wall) {
    const d = new Date(wall * 1000);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  function namespecOf(event) {
    if (event.groupname === event.processname) return event.processname;
    return event.groupname + ":" + event.processname;
  }

  function describe(row, state, name, spawnerr) {
    const pid = row.tr.dataset.pid;
    if (state === "RUNNING") return "pid " + pid + ", uptime " + uptime(serverNow() - row.start);
    if (state === "FATAL" || state === "BACKOFF") {
      return spawnerr || 'unknown error (try "tail ' + name + '")';
    }
    if (state === "STOPPED" || state === "EXITED") {
      return row.start ? stopTime(row.stop || serverNow()) : "Not started";
    }
    return "";
  }

  function setLive(kind, text, withRefresh) {
    if (!live) return;
    live.hidden = false;
    live.className = "live " + kind;
    live.textContent = text;
    if (withRefresh) {
      live.append(" ");
      const a = document.createElement("a");
      a.href = "index.html";
      a.textContent = "Refresh";
      live.append(a);
    }
  }

  function markStale(why) {
    if (stale) return;
    stale = true;
    setLive("on", "Live (" + why + ": refresh to see the new table)", true);
  }

  function applyState(event, isLive) {
    const name = namespecOf(event);
    const row = rows.get(name);
    if (!row) {
      if (isLive) markStale("new process " + name);
      return null;
    }
    const state = event.to_state;
    let restarted = false;
    if (state === "STARTING") {
      row.start = event.wall_time;
      // Restarts before the page opened are in the server's count already.
      if (isLive && RESTART_CAUSES.has(event.cause)) {
        row.restarts += 1;
        restarted = true;
      }
    }
    if (state === "STOPPED" || state === "EXITED" || state === "FATAL") row.stop = event.wall_time;
    const tr = row.tr;
    tr.dataset.state = state;
    tr.dataset.pid = (state === "STARTING" || state === "RUNNING" || state === "STOPPING")
      ? String(event.pid || 0) : "0";
    const badge = tr.querySelector("td.state .badge");
    badge.textContent = state;
    badge.className = "badge " + stateClass(state);
    tr.querySelector("td.desc").textContent = describe(row, state, event.processname, event.spawnerr);
    tr.querySelector("td.restarts").textContent = String(row.restarts);
    const exit = exitText(event);
    if (exit) {
      tr.querySelector("td.exit").textContent = exit;
      row.exitSeen = true;
    }
    for (const button of tr.querySelectorAll("button[data-states]")) {
      button.hidden = !button.dataset.states.split(" ").includes(state);
    }
    if (isLive) {
      tr.classList.remove("flash");
      void tr.offsetWidth; // restart the animation
      tr.classList.add("flash");
    }
    return restarted ? row.restarts : null;
  }

  function exitText(event) {
    if (event.returncode === null || event.returncode === undefined) return "";
    if (event.returncode < 0) return "killed by " + (event.signal_name || "signal " + -event.returncode);
    return "exit " + event.returncode;
  }

  function setStorm(name, on, event) {
    const row = rows.get(name);
    if (!row) return;
    const badge = row.tr.querySelector("td.state .storm");
    badge.hidden = !on;
    row.tr.dataset.storm = on ? "1" : "";
    badge.title = on ? "restart storm since " + clockTime(event.start) + ": " + event.restarts +
      " automatic restarts" : "";
  }

  function showFiltered(li) {
    const wanted = feedFilter ? feedFilter.value : "";
    li.hidden = wanted !== "" && li.dataset.namespec !== wanted;
  }

  function addToFeed(event, restartNumber) {
    if (!feed) return;
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = clockTime(event.wall_time);
    li.append(time);
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = event.processname ? namespecOf(event)
      : (event.groupname ? "group " + event.groupname : "superd");
    li.append(who);
    const what = document.createElement("span");
    what.className = "what";
    if (event.to_state) {
      what.textContent = event.from_state + " \u2192 " + event.to_state;
      if (event.to_state === "FATAL" || event.to_state === "BACKOFF") what.classList.add("bad");
    } else if (event.type === "PROCESS_STORM_BEGIN" || event.type === "PROCESS_STORM_END") {
      what.textContent = event.type === "PROCESS_STORM_BEGIN" ? "restart storm begins"
        : "restart storm ends";
      what.classList.add(event.type === "PROCESS_STORM_BEGIN" ? "bad" : "ok");
    } else {
      what.textContent = event.type;
    }
    li.append(what);
    if (event.cause) {
      const cause = document.createElement("span");
      cause.className = "cause";
      cause.textContent = event.cause;
      if (RESTART_CAUSES.has(event.cause)) cause.classList.add("restart");
      li.append(cause);
    }
    const details = [];
    if (event.pid) details.push("pid " + event.pid);
    const exit = exitText(event);
    if (exit) details.push(exit);
    if (event.expected === false) details.push("unexpected");
    if (restartNumber !== null) details.push("restart #" + restartNumber);
    if (event.type === "PROCESS_STORM_BEGIN") details.push(event.restarts + " restarts");
    if (event.type === "PROCESS_STORM_END" && event.reason) details.push(event.reason);
    if (event.spawnerr && (event.to_state === "BACKOFF" || event.to_state === "FATAL")) {
      details.push(event.spawnerr);
    }
    const rest = document.createElement("span");
    rest.textContent = details.join(", ");
    if (event.expected === false) rest.className = "bad";
    li.append(rest);
    if (event.origin) {
      const origin = document.createElement("span");
      origin.className = "origin";
      origin.textContent = "by " + event.origin;
      li.append(origin);
    }
    li.dataset.serial = String(event.serial);
    li.dataset.namespec = event.processname ? namespecOf(event) : "";
    showFiltered(li);
    feed.prepend(li);
    while (feed.children.length > feedSize) feed.lastElementChild.remove();
  }

  function handle(event, firstLive) {
    const isLive = event.serial >= firstLive;
    let restartNumber = null;
    if (event.to_state) {
      restartNumber = applyState(event, isLive);
    } else if (event.type === "SUPERVISOR_STATE_CHANGE_STOPPING" && isLive) {
      const daemon = document.querySelector(".masthead .daemon strong");
      if (daemon) {
        daemon.textContent = "SHUTDOWN";
        daemon.className = "state-error";
      }
    } else if (event.type === "PROCESS_STORM_BEGIN" || event.type === "PROCESS_STORM_END") {
      // /storms gave the state when the page opened; only later changes apply.
      if (isLive) setStorm(namespecOf(event), event.type === "PROCESS_STORM_BEGIN", event);
    } else if (event.type && event.type.indexOf("PROCESS_GROUP_") === 0 && isLive) {
      markStale("process groups changed");
    }
    addToFeed(event, restartNumber);
  }

  function tick() {
    for (const [, row] of rows) {
      if (row.tr.dataset.state === "RUNNING") {
        row.tr.querySelector("td.desc").textContent =
          describe(row, "RUNNING", row.tr.dataset.namespec, "");
      }
    }
  }

  function follow(nextSerial, types) {
    const since = Math.max(0, nextSerial - HISTORY_SERIALS);
    const source = new EventSource("events?since=" + since + "&types=" + types);
    source.onopen = function () {
      if (!stale) setLive("on", "Live: following /events", false);
    };
    source.onmessage = function (message) {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        return; // not ours to show
      }
      handle(event, nextSerial);
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        setLive("off", "Live updates stopped (the server ended /events).", true);
      } else {
        setLive("", "Reconnecting to /events\u2026", false);
      }
    };
    for (const cell of document.querySelectorAll(".restarts, .exit")) cell.hidden = false;
    if (feedSection) feedSection.hidden = false;
    window.setInterval(tick, 1000);
  }

  // Prometheus text format: name{label="value",...} number. Only the lines we show.
  const METRIC_LINE = /^(supervisor_process_[a-z_]+)\{(.*)\}\s+(\S+)/;
  const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

  function parseMetrics(text) {
    const figures = { cpu: new Map(), rss: new Map(), exit: new Map() };
    const wanted = {
      supervisor_process_cpu_seconds_total: figures.cpu,
      supervisor_process_resident_memory_bytes: figures.rss,
      supervisor_process_last_exit_code: figures.exit,
    };
    for (const line of text.split("\n")) {
      const match = METRIC_LINE.exec(line);
      if (!match || !(match[1] in wanted)) continue;
      const labels = {};
      for (const label of match[2].matchAll(LABEL)) {
        labels[label[1]] = label[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
      }
      const value = parseFloat(match[3]);
      if (labels.group === undefined || labels.name === undefined || Number.isNaN(value)) continue;
      const key = namespecOf({ groupname: labels.group, processname: labels.name });
      const target = wanted[match[1]];
      target.set(key, (target.get(key) || 0) + value); // CPU: the modes summed
    }
    return figures;
  }

  function mebibytes(bytes) {
    const mib = bytes / 1048576;
    return (mib >= 100 ? mib.toFixed(0) : mib.toFixed(1)) + " MiB";
  }

  function applyMetrics(figures, at) {
    for (const [name, row] of rows) {
      const cpu = row.tr.querySelector("td.cpu");
      const seconds = figures.cpu.get(name);
      const before = previousCpu ? previousCpu.seconds.get(name) : undefined;
      if (seconds === undefined) {
        cpu.textContent = "\u2014";
      } else if (before !== undefined && at > previousCpu.at && seconds >= before) {
        cpu.textContent = ((seconds - before) / (at - previousCpu.at) * 100).toFixed(1) + "%";
      } else if (before === undefined) {
        cpu.textContent = "\u2026"; // a rate needs two readings
      }
      const rss = figures.rss.get(name);
      row.tr.querySelector("td.mem").textContent = rss === undefined ? "\u2014" : mebibytes(rss);
      const code = figures.exit.get(name);
      if (!row.exitSeen && code !== undefined) {
        row.tr.querySelector("td.exit").textContent =
          code < 0 ? "killed by signal " + -code : "exit " + code;
      }
    }
    previousCpu = { at: at, seconds: figures.cpu };
  }

  function sampleMetrics() {
    window.fetch("metrics", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) return null; // no Prometheus extension: no CPU/memory columns
        return response.text();
      }).then(function (text) {
        if (text === null) return;
        for (const cell of document.querySelectorAll(".cpu, .mem, .exit")) cell.hidden = false;
        applyMetrics(parseMetrics(text), Date.now() / 1000);
        window.setTimeout(sampleMetrics, SAMPLE_SECONDS * 1000);
      }).catch(function () {
        window.setTimeout(sampleMetrics, SAMPLE_SECONDS * 1000); // the server may be back
      });
  }

  // Who is in a storm now; false when the server has no storm extension (404).
  function loadStorms() {
    return window.fetch("storms", {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    }).then(function (response) {
      if (!response.ok) return false;
      return response.json().then(function (storms) {
        for (const storm of storms.current || []) {
          if (storm.scope === "process") {
            setStorm(namespecOf({ groupname: storm.group, processname: storm.name }), true, storm);
          }
        }
        return true;
      });
    }).catch(function () {
      return false;
    });
  }

  function start() {
    if (typeof window.EventSource !== "function" || typeof window.fetch !== "function") {
      setLive("off", "Live updates need a newer browser.", true);
      return;
    }
    window.fetch("events/restarts", {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    }).then(function (response) {
      if (response.status === 404) {
        setLive("off",
          "Live updates are off: this server has no /events (the journal extension is disabled).",
          true);
        return;
      }
      if (!response.ok) {
        setLive("off", "Live updates are off: /events answered " + response.status + ".", true);
        return;
      }
      return response.json().then(function (counts) {
        for (const entry of counts.restarts || []) {
          const row = rows.get(namespecOf(entry));
          if (row) row.restarts = entry.restarts;
        }
        for (const [, row] of rows) {
          row.tr.querySelector("td.restarts").textContent = String(row.restarts);
        }
        // After next_serial is known: a storm change since then comes as an event too.
        return loadStorms().then(function (haveStorms) {
          follow(parseInt(counts.next_serial, 10) || 0, haveStorms ? TYPES + ",STORM" : TYPES);
        });
      });
    }).catch(function () {
      setLive("off", "Live updates are off: /events could not be reached.", true);
    });
  }

  if (feedFilter) {
    feedFilter.addEventListener("change", function () {
      for (const li of feed.children) showFiltered(li);
    });
  }

  start();
  if (typeof window.fetch === "function") sampleMetrics();
})();
