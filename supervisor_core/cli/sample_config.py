"""``superd --sample-config``: a commented starting configuration (supervisord's
``echo_supervisord_conf``, plus the options and sections superd adds).

The active lines make a working daemon on any machine (files under /tmp, a unix
socket for supervisorctl); every other option is shown commented out with its
default. The text is also a valid supervisord.conf: supervisord ignores superd's
options and ``[exporter:*]`` sections. Tests keep it loading under both daemons,
with and without the comments removed.
"""

from __future__ import annotations

SAMPLE_CONFIG = """\
; A configuration for superd, which is also a valid supervisord.conf.
;
; Made by `superd --sample-config`. A line starting with ";" is a comment: remove
; the ";" to use that option. The value shown is an example; the default is in
; parentheses. Options marked "superd only" are ignored by supervisord, so this
; one file runs under either daemon. Reference: docs/config.md.
;
; Write it where superd looks first, or pass it with -c:
;   superd --sample-config > /etc/supervisord.conf
;   superd --check-config -c /etc/supervisord.conf

[unix_http_server]
file=/tmp/supervisor.sock      ; the control socket for supervisorctl and superctl
;chmod=0700                    ; its file mode (0700)
;chown=nobody:nogroup          ; its owner, user:group (unchanged)
;username=user                 ; basic auth on the socket (none)
;password=123                  ; plain text, or {SHA} and the hex SHA-1 of it

;[inet_http_server]            ; TCP control port, web page and /metrics (off)
;port=127.0.0.1:9001           ; host:port, or *:port for every interface
;username=user                 ; basic auth (none: anyone who can connect)
;password=123                  ; plain text, or {SHA} and the hex SHA-1 of it

[supervisord]
logfile=/tmp/supervisord.log   ; the main log, or "syslog" for syslog_socket (supervisord.log)
;logfile_maxbytes=50MB         ; rotate the main log at this size; 0: never (50MB)
;logfile_backups=10            ; rotated main logs to keep (10)
;loglevel=info                 ; critical, error, warn, info, debug, trace, blather (info)
pidfile=/tmp/supervisord.pid   ; the daemon's pid (supervisord.pid)
;nodaemon=false                ; true: stay in the foreground, like -n (false)
;silent=false                  ; true: no log on stdout in the foreground (false)
;minfds=1024                   ; file descriptors needed to start (1024)
;minprocs=200                  ; processes needed to start (200)
;umask=022                     ; the daemon's umask (022)
;user=nobody                   ; when started as root, run as this user (no switch)
;identifier=supervisor         ; the name RPC clients see (supervisor)
;directory=/tmp                ; chdir here when daemonizing (superd: /, supervisord: stays)
;nocleanup=false               ; true: keep AUTO child logs of earlier runs (false)
;childlogdir=/tmp              ; where AUTO child logs are made (the temp directory)
;environment=KEY="value"       ; added to every child's environment (none)
;strip_ansi=false              ; true: strip ANSI escapes from child logs (false)
;stderr_tail_lines=20          ; superd only: stderr lines each exit event carries (20)
;syslog_socket=/dev/log        ; superd only: syslog socket for logfile=syslog, *_syslog (/dev/log)
;subreaper=false               ; superd only: adopt and reap orphans (false; always as PID 1)
;survivors=kill                ; superd only: a killed superd's children: kill, adopt, leave (kill)

; supervisorctl and supervisord need this section; superd serves the same API with or
; without it.
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///tmp/supervisor.sock ; the daemon to talk to (http://localhost:9001)
;serverurl=http://127.0.0.1:9001 ; or over TCP, with [inet_http_server]
;username=user                 ; as in the server section
;password=123                  ; as in the server section
;prompt=supervisor             ; the shell's prompt (supervisor)
;history_file=~/.sc_history    ; the shell's readline history (none)

; One section per program. Every option but command has a default.

;[program:theprogramname]
;command=/bin/cat              ; the program and its arguments; a relative name uses PATH
;process_name=%(program_name)s ; must hold %(process_num)s when numprocs > 1
;numprocs=1                    ; how many copies to run (1)
;numprocs_start=0              ; the first process_num (0)
;directory=/tmp                ; chdir here before exec (no chdir)
;umask=022                     ; the child's umask (the daemon's)
;priority=999                  ; lower starts first and stops last (999)
;autostart=true                ; start when the daemon starts (true)
;autorestart=unexpected        ; restart after an exit: false, unexpected, true (unexpected)
;startsecs=1                   ; seconds up before a start counts as a success (1)
;startretries=3                ; failed starts in a row before FATAL (3)
;exitcodes=0                   ; exit codes that are expected (0)
;stopsignal=TERM               ; a signal name or number (TERM)
;stopwaitsecs=10               ; seconds to wait before SIGKILL (10)
;stopasgroup=false             ; send the stop signal to the process group (false)
;killasgroup=false             ; send SIGKILL to the process group (false)
;user=nobody                   ; run the child as this user (the daemon's)
;redirect_stderr=false         ; true: stderr goes into the stdout log (false)
;stdout_logfile=/tmp/theprogramname.out ; a file, AUTO (in childlogdir) or NONE (AUTO)
;stdout_logfile_maxbytes=1MB   ; rotate at this size; 0: never (50MB)
;stdout_logfile_backups=10     ; rotated logs to keep (10)
;stdout_capture_maxbytes=1MB   ; bytes of PROCESS_COMMUNICATION capture (0: off)
;stdout_events_enabled=false   ; PROCESS_LOG_STDOUT events (false)
;stdout_syslog=false           ; also send each line to syslog_socket (false)
;stderr_logfile=/tmp/theprogramname.err ; a file, AUTO (in childlogdir) or NONE (AUTO)
;stderr_logfile_maxbytes=1MB   ; rotate at this size; 0: never (50MB)
;stderr_logfile_backups=10     ; rotated logs to keep (10)
;stderr_capture_maxbytes=1MB   ; bytes of PROCESS_COMMUNICATION capture (0: off)
;stderr_events_enabled=false   ; PROCESS_LOG_STDERR events (false)
;stderr_syslog=false           ; also send each line to syslog_socket (false)
;environment=A="1",B="2"       ; added to the child's environment (none)
;serverurl=AUTO                ; SUPERVISOR_SERVER_URL for the child (AUTO: the daemon's)
;backoff_initial=1             ; superd only: wait before an automatic restart (0: off)
;backoff_factor=2              ; superd only: each restart in a row waits this times longer (2)
;backoff_max=300               ; superd only: the longest wait, seconds (300)
;backoff_jitter=0.2            ; superd only: spread each wait by this fraction (0)
;backoff_reset=60              ; superd only: a run this long starts over (60)
;startlimit_burst=20           ; superd only: at most this many automatic starts... (0: off)
;startlimit_interval=600       ; superd only: ...within this many seconds, then FATAL (10)
;depends_on=theeventlistenername ; superd only: start once these are ready (none)
;ready=notify                  ; superd only: startsecs, notify, tcp:H:P, http:URL, command:CMD
;ready_timeout=60              ; superd only: not ready in this many seconds: a failed start (60)
;ready_interval=0.5            ; superd only: seconds between two readiness probes (0.5)
;watchdog_timeout=30           ; superd only: ready=notify and no WATCHDOG=1 this long: kill (0)

; An event listener pool: a program that reads events on stdin (superlance's
; crashmail, memmon, httpok, ...). It takes the program options above, and these.

;[eventlistener:theeventlistenername]
;command=/bin/eventlistener    ; the listener and its arguments
;events=PROCESS_STATE          ; event types to receive, comma separated (required)
;buffer_size=10                ; events queued while the listener is busy (10)
;result_handler=supervisor.dispatchers:default_handler ; kept, not imported
;priority=-1                   ; pools start before programs (-1)
;autorestart=unexpected        ; as for programs

; A group puts programs under one name (supervisorctl start name:*).

;[group:thegroupname]
;programs=theprogramname       ; [program:x] names, comma separated (required)
;priority=999                  ; the group's start priority (999)

; superd only: exporters turn every process event into something outside the daemon.
; supervisord ignores these sections. See docs/journal.md, docs/metrics.md,
; docs/storms.md and docs/otel.md.

;[exporter:journal]            ; the SQLite event journal (on without this section)
;enabled=true                  ; false: no journal (true)
;path=/tmp/superd-journal.sqlite3 ; relative: to this file (childlogdir/superd-journal.sqlite3)
;retention=7d, 100MB           ; by age and/or size; "none" keeps everything (7d, 100MB)
;stderr_lines=20               ; stderr lines kept with an unexpected exit (20)
;batch_size=256                ; events per transaction at most (256)
;flush_interval=50ms           ; longest an event waits for its commit (50ms)

;[exporter:prometheus]         ; /metrics is on the control plane without this section
;listen=127.0.0.1:9101         ; also serve /metrics here, without auth (no such port)

;[exporter:storms]             ; restart-storm detection (on without this section)
;enabled=true                  ; false: no detection, no storm events (true)
;burst=5                       ; exits of one process within window that begin a storm (5)
;window=60s                    ; the sliding window, and how long RUNNING ends a storm (60s)
;short_run=10s                 ; an expected exit counts when its run was shorter (10s)
;group_burst=2                 ; processes of one group in a storm: a group storm (2)
;host_burst=5                  ; processes in a storm at once: a host storm (5)
;history=1000                  ; ended storms /storms remembers (1000)

;[exporter:otel]               ; OpenTelemetry traces over OTLP/HTTP (off without this section)
;endpoint=http://127.0.0.1:4318 ; where spans go (the SDK's environment, else localhost:4318)
;service_name=superd           ; the resource's service.name (superd)
;headers=Authorization="Bearer s3cret" ; sent with every export (none)
;timeout=10s                   ; per export request (10s)
;episode_quiet=60s             ; quiet time that ends a restart episode (60s)
;command_line=false            ; true: record process.command_line (false)
;stderr_tail=true              ; put the run's stderr tail on its span (true)
;enabled=true                  ; false: keep the section, send nothing (true)

; [include] reads more files; globs are relative to this file. Included files
; cannot include others.

;[include]
;files=relative/directory/*.ini
"""
