# Prompts: N per instrument, from the OpenAI API (key read from the job's environment,
# never from config/params) or the deterministic offline generator.
# Cap concurrent API calls with the openai_api resource, e.g. `--resources openai_api=2`
# on the command line or `resources: [openai_api=2]` in a profile.


rule make_prompts:
    output:
        prompts="results/prompts/{instrument}.txt",
        sidecar="results/prompts/{instrument}.json",
    log:
        "logs/prompts/{instrument}.log",
    # local: compute nodes often have no internet, and the job is a few API calls
    localrule: True
    conda:
        "../../envs/difftone.yaml"
    resources:
        openai_api=0 if config["prompts"]["source"] == "offline" else 1,
    params:
        n=config["prompts"]["n_per_instrument"],
        source=config["prompts"]["source"],
        seed=config["prompts"]["seed"],
        model=config["prompts"]["model"],
        batch_size=config["prompts"]["batch_size"],
        temperature=config["prompts"]["temperature"],
        max_retries=config["prompts"]["max_retries"],
        backoff_s=config["prompts"]["backoff_s"],
        cache_dir=config["prompts"]["cache_dir"],
    script:
        "../scripts/make_prompts.py"
