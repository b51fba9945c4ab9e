# bash completion for image-transfer(1)                      -*- shell-script -*-
# Installed as share/bash-completion/completions/image-transfer. The flag list
# is --help's (tests/integration/test_completion.py keeps the two equal).

_image_transfer()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

    local flags="--securityFile --security-file --ruleFile --rule-file
        --registry --ns --tag-exist-overridden --referrers --ccrToTcr --ccr-to-tcr
        --secretFile --secret-file --tcrName --tcr-name --tcrRegion
        --tcr-region --ccrRegion --ccr-region --ccrTagNums --ccr-tag-nums
        --tcr-namespace-public --tc-endpoint --tc-profile --ccr-registry
        --tcr-registry
        --state-dir --report --dry-run --log-level --log-file --tui --no-tui
        --exit-on-done --progress-interval --ca-file --help --version
        --output --metrics-file --metrics-interval --events --prune --preflight
        --routines --retry --retry-window --qps --bandwidth --max-tags --max-pages --shard
        --platforms --tags --exclude-tags --semver --latest --verify"

    # A flag's value, also after '=' (bash splits words at
    # '=' when COMP_WORDBREAKS holds it, as by default).
    local flag= eq=
    if [[ $cur == --*=* ]]; then
        flag=${cur%%=*}
        cur=${cur#*=}
        eq=1
    elif [[ $cur == = && $prev == --* ]]; then
        flag=$prev
        cur=
        eq=1
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        flag=${COMP_WORDS[COMP_CWORD - 2]}
        eq=1
    elif [[ $prev == --* && $cur != -* ]]; then
        flag=$prev
    fi
    case $flag in
    --securityFile | --security-file | --ruleFile | --rule-file | \
        --secretFile | --secret-file | --report | --log-file | --ca-file | \
        --metrics-file | --events)
        COMPREPLY=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null
        return 0
        ;;
    --state-dir)
        COMPREPLY=($(compgen -d -- "$cur"))
        compopt -o filenames 2>/dev/null
        return 0
        ;;
    --log-level)
        COMPREPLY=($(compgen -W "error warn info debug" -- "$cur"))
        return 0
        ;;
    --output)
        COMPREPLY=($(compgen -W "text json" -- "$cur"))
        return 0
        ;;
    --platforms)
        COMPREPLY=($(compgen -W "linux/amd64 linux/arm64 linux/arm/v7
            linux/arm/v6 linux/386 linux/ppc64le linux/s390x linux/riscv64
            windows/amd64" -- "$cur"))
        return 0
        ;;
    --verify)
        COMPREPLY=($(compgen -W "deep" -- "$cur"))
        return 0
        ;;
    --tag-exist-overridden | --referrers | --ccrToTcr | --ccr-to-tcr | \
        --tcr-namespace-public)
        if [[ -n $eq ]]; then
            COMPREPLY=($(compgen -W "true false" -- "$cur"))
            return 0
        fi
        ;;
    --registry | --ns | --tcrName | --tcr-name | --tcrRegion | \
        --tcr-region | --ccrRegion | --ccr-region | --ccrTagNums | \
        --ccr-tag-nums | --tc-endpoint | --ccr-registry | --tcr-registry | \
        --progress-interval | --metrics-interval | --routines | --retry | --retry-window | --qps | --bandwidth | \
        --max-tags | --max-pages | --shard)
        # a value of the operator's own: nothing to offer
        COMPREPLY=()
        return 0
        ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    fi
    return 0
}
complete -F _image_transfer image-transfer
