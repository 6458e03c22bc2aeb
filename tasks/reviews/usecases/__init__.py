"""The review use-cases, each a few named steps: load the facts -> decide with the rules -> write.

- `plan`: a Jobber event (or any match) -> one request row with its decision (`plan_request`, `plan_from_event`);
- `send`: claim due requests and deliver each step exactly once (`dispatch_due`, `SendStep`);
- `poll`: the webhook fallback, planning what the trigger matched since a watermark;
- `makecom`: the Make.com endpoint's body -> a planned request through the same dedupe;
- `preview`: what a job's request would say, recording nothing.
"""
