# slashmake's workflow: `snakemake -c2 <flow>` runs a compiled flow (rules/compiled/<flow>.smk),
# `slashmake run "<chain>"` compiles an ad-hoc chain into .slashmake/chains/ and runs it.
from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


include: "rules/common.smk"


# Every compiled flow, or only those a run names in config (slashmake run passes the target's own
# and those it shares steps with, so a project of many flows parses one).
for _flow in compiled_flows(workflow.basedir, config):

    include: _flow


if config.get("slashmake_chain"):

    include: config["slashmake_chain"]


# A report's front page (`slashmake run --report`): the run's answer, written before the report.
if config.get("slashmake_front"):

    report: config["slashmake_front"]
