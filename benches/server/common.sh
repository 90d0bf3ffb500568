# Shared by the scripts in benches/server/ (sourced, not run): installing tools, a scratch
# directory whose servers are killed on exit, waiting for a port, and nginx's configuration.

# need COMMAND PACKAGE: installs PACKAGE with apt-get if COMMAND is missing (root).
need() {
  command -v "$1" >/dev/null 2>&1 && return
  echo "installing $2" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# scratch NAME: makes $work (a new directory under /tmp) and an EXIT trap that kills every pid
# in $pids and removes $work.
scratch() {
  work=$(mktemp -d "/tmp/oc-bench-$1.XXXXXX")
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
}

# wait_port PORT: waits up to 10 s for a listener on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 did not open" >&2
  return 1
}

# nginx_conf DIR WORKERS PORT UPSTREAM_PORT ROOT ACCESS_LOG: writes DIR/nginx.conf for nginx
# serving ROOT on 127.0.0.1:PORT with `/plaintext` proxied to 127.0.0.1:UPSTREAM_PORT over
# kept-alive connections; ACCESS_LOG is `off` or a file.
nginx_conf() {
  local dir=$1 workers=$2 port=$3 upstream=$4 root=$5 log=$6
  cat >"$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log $log;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  types { application/octet-stream bin; }
  upstream backend { server 127.0.0.1:$upstream; keepalive 64; }
  server {
    listen 127.0.0.1:$port reuseport;
    root $root;
    location = /plaintext {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
}

# start_upstream OC_SERVER PORT: starts the upstream the proxies use, an oc-server with a fixed
# /plaintext on one worker, on 127.0.0.1:PORT (its pid goes into $pids).
start_upstream() {
  cat >"$work/upstream.json" <<CONF
{ "runtime": { "workers": 1 }, "listeners": [{ "address": "127.0.0.1:$2" }],
  "logging": { "level": "warn" },
  "routes": [{ "kind": "fixed", "path": "/plaintext", "body": "Hello, World!" }] }
CONF
  "$1" --config "$work/upstream.json" 2>"$work/upstream.err" &
  pids+=($!)
}
