#!/usr/bin/env python3
"""Writes the bench/ssh playbook (also used by bench/scale) into OUTDIR.

100 tasks per host, 20 each of file, template, lineinfile, command and copy, in 20 rounds of
five: each round makes a directory under /opt/kbench and writes four files into it. Every task is
idempotent, so a rerun on converged hosts must report changed=0 (command uses `creates`).
Facts are not gathered: the benchmark times tasks, not fact collection.
"""
import os
import sys

ROUNDS = 20
ROOT = "/opt/kbench"

TEMPLATE = """# managed by bench/ssh, round {{ bench_round }}
host={{ inventory_hostname }}
address={{ ansible_host | default(inventory_hostname) }}
name={{ bench_name | upper }}
{% for port in bench_ports %}
listen {{ port }}
{% endfor %}
ports_total={{ bench_ports | sum }}
"""

# A 4 KiB payload: big enough to be a real file transfer, small enough not to measure bandwidth.
PAYLOAD = "".join(f"line {i:04d}: the quick brown fox jumps over the lazy dog\n" for i in range(64))


def round_tasks(r):
    d = f"{ROOT}/r{r:02d}"
    return f"""    - name: file {r}
      file:
        path: {d}
        state: directory
        mode: "0755"
    - name: template {r}
      template:
        src: bench.j2
        dest: {d}/templated.conf
        mode: "0644"
      vars:
        bench_round: {r}
    - name: lineinfile {r}
      lineinfile:
        path: {d}/settings.conf
        regexp: "^key{r}="
        line: "key{r}=value{r}"
        create: true
        mode: "0644"
    - name: command {r}
      command:
        cmd: cp /etc/hostname {d}/hostname.txt
        creates: {d}/hostname.txt
    - name: copy {r}
      copy:
        src: payload.txt
        dest: {d}/payload.txt
        mode: "0644"
"""


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "templates"), exist_ok=True)
    os.makedirs(os.path.join(out, "files"), exist_ok=True)
    with open(os.path.join(out, "templates", "bench.j2"), "w") as f:
        f.write(TEMPLATE)
    with open(os.path.join(out, "files", "payload.txt"), "w") as f:
        f.write(PAYLOAD)
    head = """---
- name: bench/ssh
  hosts: all
  gather_facts: false
  vars:
    bench_name: kplay-bench
    bench_ports: [80, 443, 8080, 8443]
  tasks:
"""
    with open(os.path.join(out, "playbook.yml"), "w") as f:
        f.write(head + "".join(round_tasks(r) for r in range(ROUNDS)))


if __name__ == "__main__":
    main()
