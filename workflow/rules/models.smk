# Models: every hub model the config names (SAO, MERT at its revision, the CLAP
# checkpoint) is fetched once, on the submit host, into models.dir; every job then
# reads it from there, so compute nodes need no internet. HF_TOKEN is read from the
# environment by the job (never a param). Nothing to fetch under tiny/demo specs.


rule fetch_models:
    output:
        directory(str(FETCH.models_dir / "{model_name}")),
    log:
        "logs/models/fetch_{model_name}.log",
    localrule: True
    conda:
        "../../envs/difftone.yaml"
    params:
        model=lambda wildcards: FETCH.models[wildcards.model_name].params(),
    script:
        "../scripts/fetch_models.py"
