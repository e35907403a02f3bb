# bash completion for vessel (installed by `make install` as
# share/bash-completion/completions/vessel).  Everything is read from vessel
# itself at completion time, so it never drifts from the program: commands
# from `vessel --help`, img and net verbs from their --help, options from
# `vessel CMD --help`, and VM and network names from `vessel list --all` and
# `vessel net list`.  Anything else falls back to file names.

_vessel_words_after() {
	# The first words of the indented lines after a "HEADER:" line.
	"$1" "${@:3}" --help 2>/dev/null |
		awk -v h="$2" '$0 ~ "^" h ":" { on = 1; next } on && /^  [a-z]/ { print $1; next } on && NF == 0 && n++ { exit }'
}

_vessel() {
	local cur prev exe cmd i words
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	exe=${COMP_WORDS[0]}
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			words="--verbose --quiet --help --version"
		else
			words=$(_vessel_words_after "$exe" commands)
		fi
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
		return
	fi
	case $prev in
	--config | --kernel | -k | --initrd | -i | --disk | --socket | -s)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		words=$("$exe" "$cmd" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
		return
	fi
	case $cmd in
	img)
		if ((COMP_CWORD == i + 1)); then
			COMPREPLY=($(compgen -W "$(_vessel_words_after "$exe" verbs img)" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	net)
		if ((COMP_CWORD == i + 1)); then
			words=$("$exe" net --help 2>/dev/null | awk '/^  [a-z]/ { print $1 }' | sort -u)
			COMPREPLY=($(compgen -W "$words" -- "$cur"))
		elif ((COMP_CWORD == i + 2)); then
			COMPREPLY=($(compgen -W "$("$exe" net list 2>/dev/null | awk 'NR > 1 { print $1 }')" -- "$cur"))
		fi
		;;
	run | host | version | vhost-user-blk)
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	*)
		# NAME is the first argument of every manager command.
		if ((COMP_CWORD == i + 1)); then
			COMPREPLY=($(compgen -W "$("$exe" list --all 2>/dev/null | awk 'NR > 1 { print $1 }')" -- "$cur"))
		fi
		;;
	esac
}

complete -o default -F _vessel vessel
