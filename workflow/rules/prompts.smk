# Prompts: N per instrument, from the OpenAI API (key read from the job's environment,
# never from config/params) or the deterministic offline generator.
# One job writes every instrument's prompts, one instrument after another (the API calls are
# batched per instrument); the openai_api resource counts it among the jobs calling the API (the profiles cap them).


rule make_prompts:
    output:
        prompts=expand("results/prompts/{instrument}.txt", instrument=INSTRUMENTS),
        sidecars=expand("results/prompts/{instrument}.json", instrument=INSTRUMENTS),
    log:
        "logs/prompts/make_prompts.log",
    # local: compute nodes often have no internet, and the job is a few API calls; one job for every
    # instrument (a job's start-up, ~4 s on 2 busy cores, is longer than the offline prompts of all ten)
    localrule: True
    conda:
        "../../envs/difftone.yaml"
    resources:
        openai_api=0 if config["prompts"]["source"] == "offline" else 1,
    params:
        instruments=INSTRUMENTS,
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
