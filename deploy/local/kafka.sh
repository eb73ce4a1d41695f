#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: broker and controller in one JVM) on 127.0.0.1, for tests and demos.
#
#   deploy/local/kafka.sh up | down [--purge] | status
#
# The broker's jars come from Maven Central through deploy/local/kafka-pom.xml, so Java 17 and Maven are
# all it needs. Jars and runtime files live outside the repository:
#   jars      ${TOUCHSTREAM_CACHE:-$HOME/.cache/touchstream}/kafka/libs
#   run dir   .../run/kafka (data/, logs/, server.properties, kafka.pid) - kept by `down`, removed by --purge
# Ports: TOUCHSTREAM_KAFKA_PORT (19092), TOUCHSTREAM_KAFKA_CONTROLLER_PORT (19093).
# `status` exits 0 when the broker answers, 3 when stopped, 1 when running but not answering.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
POM=$HERE/kafka-pom.xml
CACHE=${TOUCHSTREAM_CACHE:-$HOME/.cache/touchstream}
LIBS=$CACHE/kafka/libs
RUN=$CACHE/run/kafka
DATA=$RUN/data
LOGS=$RUN/logs
LOG=$LOGS/server.log
PIDFILE=$RUN/kafka.pid
HOST=127.0.0.1
PORT=${TOUCHSTREAM_KAFKA_PORT:-19092}
CTRL_PORT=${TOUCHSTREAM_KAFKA_CONTROLLER_PORT:-19093}
START_TIMEOUT=${TOUCHSTREAM_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=30

say() { echo "kafka: $*"; }
die() {
    echo "kafka: $*" >&2
    exit 1
}

# The last lines of the broker's log, for error messages: the reason is almost always in there.
log_tail() {
    [[ -f $LOG ]] || return 0
    echo "--- last lines of $LOG ---" >&2
    tail -n 25 "$LOG" >&2
}

need_java() {
    command -v java >/dev/null || die "Java is missing: install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)"
    command -v mvn >/dev/null || die "Maven is missing (it fetches the broker jars): apt-get install maven"
}

# Debian's kcat, used by the integration tests to read what the Python clients wrote. Missing kcat does
# not stop the broker; the tests that need it say so.
ensure_kcat() {
    command -v kcat >/dev/null && return 0
    local sudo=()
    if [[ $EUID -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
            echo "kafka: warning: kcat is missing and apt-get needs root: apt-get install kcat" >&2
            return 0
        fi
    fi
    command -v apt-get >/dev/null || {
        echo "kafka: warning: kcat is missing and there is no apt-get: install kcat yourself" >&2
        return 0
    }
    say "installing kcat with apt-get"
    # Other apt runs (another service's install) hold the dpkg lock for a while: wait for it.
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -q kcat \
        >"$RUN/apt-kcat.log" 2>&1 ||
        echo "kafka: warning: apt-get install kcat failed (see $RUN/apt-kcat.log)" >&2
}

# Fetch the jars once per pom version. A marker holding the pom's checksum makes a half-finished fetch or
# a version bump fetch again; the fetch goes to a temporary folder first so a crash never leaves a mix.
fetch_jars() {
    local want marker=$LIBS/.pom.sha256 tmp
    want=$(sha256sum "$POM" | cut -d' ' -f1)
    [[ -f $marker && $(<"$marker") == "$want" ]] && return 0
    say "fetching the broker jars with Maven (once; cached in $LIBS)"
    tmp=$LIBS.tmp.$$
    rm -rf "$tmp"
    if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$RUN/mvn.log" 2>&1; then
        tail -n 25 "$RUN/mvn.log" >&2
        rm -rf "$tmp"
        die "Maven could not fetch the Kafka jars (full output: $RUN/mvn.log)"
    fi
    echo "$want" >"$tmp/.pom.sha256"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
}

# Written on every start, so changed ports take effect; node id and log.dirs never change.
write_config() {
    cat >"$RUN/server.properties" <<EOF
# Written by deploy/local/kafka.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CTRL_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CTRL_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=true
# One node: no reason to make consumer groups wait for more members.
group.initial.rebalance.delay.ms=0
EOF
    # kafka_2.13 logs through SLF4J; slf4j-reload4j sends that to log4j 1.x, configured here.
    cat >"$RUN/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.kafka.log.LogCleaner=WARN
EOF
    # log4j 2 is on the classpath too (Kafka 4 reaches for it to manage log levels); without a config
    # of its own it prints "Reconfiguration failed" errors into the log.
    cat >"$RUN/log4j2.properties" <<'EOF'
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
EOF
}

# JVM flags every java run here shares: where both logging systems find their configuration.
java_flags() {
    JAVA_FLAGS=(
        "-Dlog4j.configuration=file:$RUN/log4j.properties"
        "-Dlog4j2.configurationFile=$RUN/log4j2.properties"
        "-Dkafka.logs.dir=$LOGS"
    )
}

# Format the storage once: a second format would refuse (or wipe the cluster id), and `down` keeps data.
format_storage() {
    [[ -f $DATA/meta.properties ]] && return 0
    local id
    java_flags
    id=$(java "${JAVA_FLAGS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$LOG" | tail -n 1)
    [[ -n $id ]] || die "StorageTool random-uuid printed nothing (see $LOG)"
    say "formatting $DATA (cluster id $id)"
    if ! java "${JAVA_FLAGS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
        -t "$id" -c "$RUN/server.properties" >>"$LOG" 2>&1; then
        log_tail
        die "StorageTool format failed"
    fi
}

# The pid from the pid file, if that process is alive and is our broker (pids get reused).
broker_pid() {
    local pid
    [[ -f $PIDFILE ]] || return 1
    pid=$(<"$PIDFILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
    echo "$pid"
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# An open port is not a working broker: ask for metadata (the venv's kafka-python, else kcat).
metadata_ok() {
    local py=${TOUCHSTREAM_PYTHON:-$REPO/.venv/bin/python}
    if [[ -x $py ]] && "$py" -c 'import kafka' 2>/dev/null; then
        timeout 15 "$py" -c '
import sys
from kafka import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=5000)
try:
    sys.exit(0 if admin.describe_cluster()["brokers"] else 1)
finally:
    admin.close()
' "$HOST:$PORT" >/dev/null 2>&1
    elif command -v kcat >/dev/null; then
        timeout 15 kcat -L -b "$HOST:$PORT" -m 5 >/dev/null 2>&1
    else
        port_open "$PORT"
    fi
}

healthy() { port_open "$PORT" && metadata_ok; }

start() {
    # Detached (setsid, nohup, no inherited stdio) so the broker outlives the shell or test that started it.
    java_flags
    # setsid forks when its caller leads a process group (job control on), so `$!` can name a process
    # that exits at once; the inner shell records its own pid and then becomes java (exec keeps the pid).
    rm -f "$PIDFILE"
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
    setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
        java -Xmx512m -Xms256m "${JAVA_FLAGS[@]}" -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" \
        </dev/null >>"$LOG" 2>&1 &
    local waited=0
    until [[ -s $PIDFILE ]] || ((waited++ > 50)); do sleep 0.1; done
}

wait_healthy() {
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! broker_pid >/dev/null; then
            log_tail
            die "the broker exited during start-up"
        fi
        healthy && return 0
        sleep 1
    done
    log_tail
    die "no answer on $HOST:$PORT after ${START_TIMEOUT}s (the broker is still running: deploy/local/kafka.sh down)"
}

up() {
    local pid t0=$SECONDS
    mkdir -p "$RUN" "$DATA" "$LOGS"
    if pid=$(broker_pid); then
        if healthy; then
            say "already running (pid $pid) on $HOST:$PORT"
            ensure_kcat
            return 0
        fi
        say "running (pid $pid) but not answering yet; waiting"
        wait_healthy
        say "up on $HOST:$PORT (pid $pid)"
        return 0
    fi
    rm -f "$PIDFILE"
    if port_open "$PORT" || port_open "$CTRL_PORT"; then
        die "port $PORT or $CTRL_PORT on $HOST is taken by another process; set TOUCHSTREAM_KAFKA_PORT / TOUCHSTREAM_KAFKA_CONTROLLER_PORT"
    fi
    need_java
    ensure_kcat
    fetch_jars
    # Keep one previous log: enough to see why the last run died, without growing forever.
    [[ -f $LOG ]] && mv -f "$LOG" "$LOG.1"
    write_config
    format_storage
    echo "=== start $(date -Is) ===" >>"$LOG"
    start
    wait_healthy
    say "up on $HOST:$PORT (pid $(<"$PIDFILE"), $((SECONDS - t0))s; log $LOG)"
}

down() {
    local pid purge=${1:-}
    if pid=$(broker_pid); then
        # SIGTERM runs the broker's controlled shutdown (flushes logs); KILL only if it hangs.
        kill -TERM "$pid"
        local deadline=$((SECONDS + STOP_TIMEOUT))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            say "no exit after ${STOP_TIMEOUT}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped (pid $pid)"
    else
        say "not running"
    fi
    rm -f "$PIDFILE"
    if [[ $purge == --purge ]]; then
        rm -rf "$RUN"
        say "removed $RUN (jars kept in $LIBS)"
    fi
}

status() {
    local pid
    if ! pid=$(broker_pid); then
        say "stopped"
        return 3
    fi
    if healthy; then
        say "running (pid $pid) on $HOST:$PORT, answering metadata requests"
        return 0
    fi
    say "running (pid $pid) but not answering on $HOST:$PORT"
    return 1
}

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case ${1:-} in
    up) up ;;
    down) down "${2:-}" ;;
    status) status ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
