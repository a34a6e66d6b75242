#!/usr/bin/env python3
"""Writes the bench/local playbooks into OUTDIR.

Three playbooks share one 10-task preamble (set_fact/debug) that always runs:
  base.yml  the preamble alone: start-up, inventory, play set-up and recap cost;
  exec.yml  the preamble + 990 executed tasks, a realistic mix of file, copy, template,
            lineinfile, command, set_fact and debug writing under `bench_dest`;
  skip.yml  the preamble + the same 990 tasks, each skipped by a `when` that is false.
So (exec - base) / 990 is the cost of one executed task and (skip - base) / 990 of one skipped
task, with start-up cost cancelled out.
"""
import os
import sys

MIXED = 990
KINDS = ("file", "copy", "template", "lineinfile", "command", "set_fact", "debug")

TEMPLATE = """# managed by bench/local, round {{ bench_round }}
host={{ inventory_hostname }}
name={{ bench_name | upper }}
{% for port in bench_ports %}
listen {{ port }}{% if not loop.last %},{% endif %}

{% endfor %}
ports_total={{ bench_ports | sum }}
"""


def preamble():
    out = []
    for i in range(5):
        out.append(f"""    - name: preamble set_fact {i}
      set_fact:
        pre_{i}: "{{{{ bench_name }}}}-{i}"
    - name: preamble debug {i}
      debug:
        msg: "preamble {{{{ pre_{i} }}}}"
""")
    return "".join(out)


def task(n, when):
    """Task n of the mixed section; `when` is appended when the task must be skipped."""
    kind = KINDS[n % len(KINDS)]
    rnd = n // len(KINDS)
    d = f"{{{{ bench_dest }}}}/r{rnd:03d}"
    cond = "      when: bench_heavy | bool\n" if when else ""
    if kind == "file":
        body = f"""      file:
        path: "{d}"
        state: directory
        mode: "0755"
"""
    elif kind == "copy":
        body = f"""      copy:
        content: "round {rnd} of {{{{ bench_name }}}}\\n"
        dest: "{d}/copy.txt"
        mode: "0644"
"""
    elif kind == "template":
        body = f"""      template:
        src: bench.j2
        dest: "{d}/templated.conf"
        mode: "0644"
      vars:
        bench_round: {rnd}
"""
    elif kind == "lineinfile":
        body = f"""      lineinfile:
        path: "{d}/settings.conf"
        regexp: "^key{rnd}="
        line: "key{rnd}=value{rnd}"
        create: true
        mode: "0644"
"""
    elif kind == "command":
        body = f"""      command:
        cmd: "touch {d}/command.stamp"
        creates: "{d}/command.stamp"
"""
    elif kind == "set_fact":
        body = f"""      set_fact:
        fact_{rnd}: "{{{{ bench_name }}}}-{rnd}"
"""
    else:
        body = f"""      debug:
        msg: "round {rnd}: {{{{ bench_ports | length }}}} ports"
"""
    return f"    - name: {kind} {n}\n{body}{cond}"


def play(name, mixed, skip):
    head = f"""- name: bench/local {name}
  hosts: localhost
  gather_facts: false
  vars:
    bench_name: kplay-bench
    bench_ports: [80, 443, 8080, 8443]
    bench_heavy: false
  tasks:
"""
    return "---\n" + head + preamble() + "".join(task(n, skip) for n in range(mixed))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "templates"), exist_ok=True)
    with open(os.path.join(out, "templates", "bench.j2"), "w") as f:
        f.write(TEMPLATE)
    with open(os.path.join(out, "inventory.ini"), "w") as f:
        # The interpreter is Ansible's own (kplay needs none): no discovery warning, no system python.
        f.write("localhost ansible_connection=local ansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n")
    for name, mixed, skip in (("base", 0, False), ("exec", MIXED, False), ("skip", MIXED, True)):
        with open(os.path.join(out, f"{name}.yml"), "w") as f:
            f.write(play(name, mixed, skip))


if __name__ == "__main__":
    main()
