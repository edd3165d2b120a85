"""The ChatML chat template every msm model directory carries.

The `{% generation %}` markers let `apply_chat_template(..., return_assistant_tokens_mask=True)`
mark assistant tokens, which is how AFT trains on assistant turns only.
"""

from __future__ import annotations

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"


def chatml_template(default_system: str | None = None) -> str:
    """ChatML; `default_system` is inserted when a conversation has no system turn (SmolLM2 does this)."""
    default = ""
    if default_system:
        escaped = default_system.replace("'", "\\'")
        default = (
            "{%- if messages and messages[0]['role'] != 'system' -%}"
            f"{{{{- '{IM_START}system\\n{escaped}{IM_END}\\n' -}}}}"
            "{%- endif -%}"
        )
    return (
        default + "{%- for message in messages -%}"
        f"{{{{- '{IM_START}' + message['role'] + '\\n' -}}}}"
        "{%- if message['role'] == 'assistant' -%}"
        f"{{% generation %}}{{{{- message['content'] + '{IM_END}' -}}}}{{% endgeneration %}}"
        "{{- '\\n' -}}"
        "{%- else -%}"
        f"{{{{- message['content'] + '{IM_END}\\n' -}}}}"
        "{%- endif -%}"
        "{%- endfor -%}"
        f"{{%- if add_generation_prompt -%}}{{{{- '{IM_START}assistant\\n' -}}}}{{%- endif -%}}"
    )
