# engine.sh — sourced by tests/deploy/compose_smoke.sh: a private Docker engine
# (docs/DEPLOY.md, /work/shared/PLATFORM.md "Packaging tools").
#
#   engine_start      dockerd with its own data root, exec root and socket under
#                     $ZH_DOCKER_CACHE (default /var/cache/zhook-docker, kept
#                     between runs so the base image and build cache survive);
#                     exports DOCKER_HOST. Returns 1 if it does not come up.
#   engine_base_image debian:bookworm-slim from debootstrap, once per data root
#   engine_stop       stops that dockerd by its PID and unmounts its netns mount
ZH_DOCKER_CACHE=${ZH_DOCKER_CACHE:-/var/cache/zhook-docker}
ENGINE_DATA=$ZH_DOCKER_CACHE/data
ENGINE_EXEC=$ZH_DOCKER_CACHE/exec
ENGINE_SOCK=$ZH_DOCKER_CACHE/docker.sock
ENGINE_PID_FILE=$ZH_DOCKER_CACHE/docker.pid
ENGINE_LOG=$ZH_DOCKER_CACHE/dockerd.log
ENGINE_PID=""
# Debian's client matches Debian's daemon; another docker on PATH may be newer
DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker

engine_start () {
    mkdir -p "$ENGINE_DATA" "$ENGINE_EXEC" || return 1
    # a dockerd left by an interrupted run of this test (same cache) is ours
    if [ -f "$ENGINE_PID_FILE" ]; then
        old=$(cat "$ENGINE_PID_FILE" 2>/dev/null)
        if [ -n "$old" ] && [ "$(cat /proc/"$old"/comm 2>/dev/null)" = dockerd ]; then
            echo "engine: stopping the dockerd left by an earlier run (pid $old)"
            kill "$old" 2>/dev/null
            i=0
            while kill -0 "$old" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        fi
        rm -f "$ENGINE_PID_FILE"
    fi
    umount "$ENGINE_EXEC/netns/default" 2>/dev/null
    rm -f "$ENGINE_SOCK"
    dockerd --iptables=false --ip6tables=false --bridge=none \
        --data-root "$ENGINE_DATA" --exec-root "$ENGINE_EXEC" \
        -H "unix://$ENGINE_SOCK" --pidfile "$ENGINE_PID_FILE" >"$ENGINE_LOG" 2>&1 &
    ENGINE_PID=$!
    export DOCKER_HOST="unix://$ENGINE_SOCK"
    i=0
    while [ $i -lt 300 ]; do
        if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
            ENGINE_PID=""
            return 1
        fi
        $DOCKER version >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

engine_stop () {
    if [ -n "$ENGINE_PID" ]; then
        kill "$ENGINE_PID" 2>/dev/null
        i=0
        while kill -0 "$ENGINE_PID" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
        if kill -0 "$ENGINE_PID" 2>/dev/null; then
            echo "engine: dockerd $ENGINE_PID ignored SIGTERM for 20 s; SIGKILL" >&2
            kill -9 "$ENGINE_PID" 2>/dev/null
        fi
        wait "$ENGINE_PID" 2>/dev/null
        ENGINE_PID=""
    fi
    umount "$ENGINE_EXEC/netns/default" 2>/dev/null
    rm -f "$ENGINE_SOCK"
    return 0
}

engine_base_image () {
    if $DOCKER image inspect debian:bookworm-slim >/dev/null 2>&1; then
        echo "engine: base image debian:bookworm-slim cached in $ENGINE_DATA"
        return 0
    fi
    rootfs=$ZH_DOCKER_CACHE/rootfs
    rm -rf "$rootfs"
    echo "engine: debootstrap --variant=minbase bookworm (once per data root)"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
        >"$ZH_DOCKER_CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$ZH_DOCKER_CACHE/debootstrap.log"; return 1; }
    # the host's apt sources and settings (mirror, snapshot, small layers)
    cp /etc/apt/apt.conf.d/docker-* "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null
    cp /etc/apt/apt.conf.d/99* "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
        rm -f "$rootfs/etc/apt/sources.list"
    fi
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
    tar -C "$rootfs" -c . | $DOCKER import --change 'CMD ["bash"]' - debian:bookworm-slim >/dev/null \
        || return 1
    rm -rf "$rootfs"
}
