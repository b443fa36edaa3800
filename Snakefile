# slashmake's workflow: `snakemake -c2 <flow>` runs a compiled flow (rules/compiled/<flow>.smk),
# `slashmake run "<chain>"` compiles an ad-hoc chain into .slashmake/chains/ and runs it.
from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


include: "rules/common.smk"


for _flow in sorted(Path(workflow.basedir, "rules/compiled").glob("*.smk")):

    include: _flow


if config.get("slashmake_chain"):

    include: config["slashmake_chain"]
