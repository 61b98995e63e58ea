# bash completion for ha-agent(8) and agentctl(8). Installed as
# /usr/share/bash-completion/completions/ha-agent, with agentctl a link to it, so that
# bash-completion loads it on the first <Tab> after either command.
# test/packaging/completion.test.ts keeps the word lists in step with both commands' --help.

_ha_agent() {
    local cur prev words cword
    _init_completion || return
    local commands='check-config render keepalived run stop help'
    local command='' i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -*) ;;
            *) command=${words[i]}; break ;;
        esac
    done
    case $prev in
        --config) _filedir '@(yaml|yml)'; return ;;
        --driver) COMPREPLY=($(compgen -W 'iptables nftables' -- "$cur")); return ;;
        --down | --timeout) return ;;
    esac
    local options
    case $command in
        '') options='--version --help' ;;
        check-config) options='--config --help' ;;
        render) options='--config --down --driver --help' ;;
        keepalived | run) options='--config --help' ;;
        stop) options='--config --withdraw --timeout --help' ;;
        help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
        *) return ;;
    esac
    if [[ -z $command && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
    elif [[ $command == check-config ]]; then
        _filedir '@(yaml|yml)'
    fi
}

_agentctl() {
    local cur prev words cword
    _init_completion || return
    local commands='status backend config reload rules events node help'
    local command='' sub='' i args=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket) ((i++)) ;;
            -n | --lines) ;;
            -*) ;;
            *)
                if [[ -z $command ]]; then command=${words[i]}
                elif [[ $command == config && -z $sub ]]; then sub=${words[i]}
                else ((args++)); fi
                ;;
        esac
    done
    case $prev in
        --socket) _filedir; return ;;
        -n | --lines) return ;;
    esac
    local options
    case $command in
        '') options='--socket --version --help' ;;
        status | reload | rules) options='--json --help' ;;
        backend) options='--json --local --help' ;;
        events) options='--lines --follow --json --help' ;;
        node) options='--json --help' ;;
        config)
            case $sub in
                '') [[ $cur == -* ]] && options='--help' || { COMPREPLY=($(compgen -W 'push diff help' -- "$cur")); return; } ;;
                push) options='--json --help'; [[ $cur != -* ]] && { _filedir '@(yaml|yml)'; return; } ;;
                diff) options='--json --help' ;;
                *) return ;;
            esac
            ;;
        help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
        *) return ;;
    esac
    if [[ -z $command && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
    elif [[ $command == backend && $args -eq 2 ]]; then
        COMPREPLY=($(compgen -W 'enable drain maintenance' -- "$cur"))
    elif [[ $command == node && $args -eq 0 ]]; then
        COMPREPLY=($(compgen -W 'drain enable' -- "$cur"))
    fi
}

complete -F _ha_agent ha-agent
complete -F _agentctl agentctl
