# slashmake's rules for a repository that has its own Snakefile: `slashmake init` adds
# `include: "rules/slashmake.smk"` to it. The same as slashmake's own Snakefile, minus the file.
# `slashmake run` compiles chains into .slashmake/chains/; `snakemake -c2 <flow>` runs a compiled flow.
import os

from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


include: "common.smk"


for _flow in compiled_flows(workflow.basedir, config):

    include: _flow


# An include is relative to the including file (rules/): the chain's path is relative to the root.
if config.get("slashmake_chain"):

    include: os.path.join(workflow.basedir, config["slashmake_chain"])
