# bash completion for droverctl: commands, options, and the process, group
# and queue names of the running droverd (asked at the -s/--server address
# given on the line, else $DROVER_URL, else droverctl's default).

# Prints the names droverctl's table gives for "status" or "queues".
_droverctl_ask()
{
	local i server=()

	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --server) server=(-s "${COMP_WORDS[i + 1]}") ;;
		--server=*) server=(-s "${COMP_WORDS[i]#--server=}") ;;
		esac
	done
	timeout 2 "${COMP_WORDS[0]}" "${server[@]}" --no-color "$1" 2>/dev/null |
		awk 'NR > 1 && $1 != "" { print $1 }'
}

# Process names (web:0) and, unless $1 is "names", group names (web).
_droverctl_procs()
{
	local names
	names=$(_droverctl_ask status)
	[[ -n $names ]] || return 0
	if [[ $1 == names ]]; then
		printf '%s\n' $names
	else
		printf '%s\n' $names | sed 'p; s/:[0-9]*$//'
	fi | sort -u
}

_droverctl()
{
	local cur prev cmd i nargs=0
	local commands="status start stop restart signal reload upgrade scale logs agents queues keygen put get"
	local options="-s --server --token-file --json --no-color -q --queue --authkey-file -h --help -V --version"

	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	case $prev in
	-s | --server | -q | --queue | -n | --lines | --timeout | --name)
		return 0
		;;
	--token-file | --authkey-file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	esac

	# The command, and how many arguments it has so far.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --server | -q | --queue | --token-file | --authkey-file | -n | --lines | --timeout | --name)
			((i++))
			;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${COMP_WORDS[i]}
			else
				((nargs++))
			fi
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$options" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return 0
	fi

	if [[ $cur == -* ]]; then
		case $cmd in
		start | stop | upgrade) options+=" --timeout --no-wait" ;;
		restart) options+=" --rolling --timeout --no-wait" ;;
		logs) options+=" -f --follow -n --lines --stderr" ;;
		keygen) options+=" --name --force" ;;
		put) options+=" --timeout" ;;
		get) options+=" --timeout --no-ack" ;;
		esac
		COMPREPLY=($(compgen -W "$options" -- "$cur"))
		return 0
	fi

	case $cmd in
	status)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_droverctl_procs)" -- "$cur"))
		;;
	start | stop | restart)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_droverctl_procs) all" -- "$cur"))
		;;
	signal)
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -W "HUP INT QUIT KILL USR1 USR2 TERM CONT STOP TSTP WINCH" -- "$cur"))
		elif ((nargs == 1)); then
			COMPREPLY=($(compgen -W "$(_droverctl_procs)" -- "$cur"))
		fi
		;;
	scale)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_droverctl_procs | grep -v :)" -- "$cur"))
		;;
	logs)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_droverctl_procs names)" -- "$cur"))
		;;
	keygen)
		((nargs == 0)) && COMPREPLY=($(compgen -d -- "$cur"))
		;;
	put | get)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_droverctl_ask queues)" -- "$cur"))
		;;
	esac
	return 0
} &&
	complete -F _droverctl droverctl
