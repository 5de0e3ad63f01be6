using System.Text.RegularExpressions;

namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>A path a RUN command changes inside <c>/workspace</c> or <c>/kaniko</c>.</summary>
/// <param name="Action">What the command does to it: <c>creates</c>, <c>removes</c>, <c>moves</c>, <c>symlinks</c>, …</param>
/// <param name="Path">The absolute, normalised path.</param>
/// <param name="Root"><c>/workspace</c> or <c>/kaniko</c>.</param>
/// <param name="Command">The command, expanded, for the message.</param>
/// <param name="Replaces">The command removes, moves, symlinks or overwrites the directory <paramref name="Root"/>
/// itself, or creates it with <c>mkdir</c> without <c>-p</c> (which fails where it exists, as in Kaniko's container);
/// false when it creates or writes into it (<c>mkdir -p</c>, a file inside, <c>cp</c>, <c>chmod</c>, …).</param>
public sealed record RunConflict(string Action, string Path, string Root, string Command, bool Replaces);

/// <summary>
/// Finds RUN commands that create, replace, symlink, move, remove or write into <c>/workspace</c> or <c>/kaniko</c>.
/// Shell scripts are split into simple commands (<see cref="ShellScript"/>); wrappers (<c>sudo</c>, <c>env</c>,
/// <c>nohup</c>, <c>exec</c>…) and <c>sh -c "…"</c> are looked through; <c>cd</c> and plain assignments are followed;
/// paths are expanded statically and anything not static is skipped. Only commands that change the path count:
/// <c>echo</c>, <c>ls</c>, <c>cat</c>, <c>grep</c> and sources of <c>cp</c> are mere mentions.
/// </summary>
public static partial class RunCommandAnalyzer
{
    private const int MaxDepth = 6;

    private static readonly HashSet<string> _shells = new(StringComparer.Ordinal) { "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh" };

    private static readonly HashSet<string> _reserved = new(StringComparer.Ordinal)
    {
        "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "{", "}", "!", "[[",
    };

    [GeneratedRegex(@"^([A-Za-z_][A-Za-z0-9_]*)\+?=")]
    private static partial Regex AssignmentRegex();

    /// <summary>Analyzes a shell-form script run with the working directory <paramref name="cwd"/> (null: unknown).</summary>
    public static IReadOnlyList<RunConflict> AnalyzeShell(string script, VariableScope variables, string? cwd)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(variables);
        var context = new Context(variables, cwd);
        var conflicts = new List<RunConflict>();
        AnalyzeScript(script, context, conflicts, 0);
        return conflicts;
    }

    /// <summary>Analyzes an exec-form command (<c>RUN ["mkdir", "/x"]</c>): words are literal, no shell expansion.</summary>
    public static IReadOnlyList<RunConflict> AnalyzeExec(IReadOnlyList<string> words, VariableScope variables, string? cwd)
    {
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(variables);
        var context = new Context(variables, cwd);
        var conflicts = new List<RunConflict>();
        AnalyzeWords([.. words], [.. words], [], context, conflicts, 0);
        return conflicts;
    }

    private sealed class Context(VariableScope variables, string? cwd)
    {
        public Dictionary<string, VariableLookup> Locals { get; init; } = new(StringComparer.Ordinal);

        public VariableScope Variables { get; } = variables;

        public string? Cwd { get; set; } = cwd;

        public VariableLookup Lookup(string name) => Locals.TryGetValue(name, out var local) ? local : Variables.Lookup(name);

        /// <summary>How many more loop-body passes may be analyzed: nested static loops multiply, and a hostile
        /// Dockerfile must not make the check slow. Shared with child shells.</summary>
        public int[] LoopBudget { get; init; } = [4096];

        /// <summary>Names exported by the script (<c>export X=…</c>): a child shell sees them.</summary>
        public HashSet<string> Exported { get; init; } = new(StringComparer.Ordinal);

        /// <summary>A new shell process (<c>sh -c</c>): it sees ENV, ARG and exported names; other script
        /// variables are unset there, or set in its environment by the base image: unknown.</summary>
        public Context ChildShell() => new(Variables, Cwd)
        {
            Locals = Locals.ToDictionary(p => p.Key, p => Exported.Contains(p.Key) ? p.Value : VariableLookup.Unknown, StringComparer.Ordinal),
            Exported = new HashSet<string>(Exported, StringComparer.Ordinal),
            LoopBudget = LoopBudget,
        };
    }

    private static void AnalyzeScript(string script, Context context, List<RunConflict> conflicts, int depth)
    {
        if (depth > MaxDepth)
        {
            return;
        }
        var commands = ShellScript.Split(script);
        AnalyzeCommands(commands, 0, commands.Count, context, conflicts, depth);
    }

    private static void AnalyzeCommands(IReadOnlyList<ShellCommand> commands, int start, int end, Context context, List<RunConflict> conflicts, int depth)
    {
        for (var k = start; k < end; k++)
        {
            if (depth <= MaxDepth && StaticForLoop(commands, k, end, context) is { } loop
                && (context.LoopBudget[0] -= loop.Values.Count) >= 0)
            {
                // for d in /workspace /data; do mkdir -p "$d"; done: every value is known, so the body is
                // analyzed once per value, as the shell runs it (docker-library/php loops over directories so).
                foreach (var value in loop.Values)
                {
                    context.Locals[loop.Name] = VariableLookup.Of(value);
                    AnalyzeCommands(commands, k + 1, loop.Done, context, conflicts, depth + 1);
                }
                context.Locals[loop.Name] = VariableLookup.Unknown;
                k = loop.Done;
                continue;
            }
            AnalyzeCommand(commands[k], context, conflicts, depth);
        }
    }

    private const int MaxLoopValues = 32;

    /// <summary>A <c>for NAME in WORD…</c> whose words all expand statically (no glob, no command substitution,
    /// at most <see cref="MaxLoopValues"/>), with the index of its matching <c>done</c>; otherwise null (the loop
    /// variable is then unknown, as before).</summary>
    private static (string Name, List<string> Values, int Done)? StaticForLoop(IReadOnlyList<ShellCommand> commands, int index, int end, Context context)
    {
        var raw = commands[index].Words;
        var i = 0;
        while (i < raw.Count && _reserved.Contains(raw[i]))
        {
            i++;
        }
        if (raw.Count < i + 4 || raw[i] != "for" || raw[i + 2] != "in" || commands[index].Redirects.Count > 0
            || raw.Count - (i + 3) > MaxLoopValues)
        {
            return null;
        }
        var values = new List<string>();
        foreach (var word in raw.Skip(i + 3))
        {
            if (word.IndexOfAny(['*', '?', '[', '`']) >= 0 || word.Contains("$(", StringComparison.Ordinal)
                || ExpandShell(word, context) is not { } value)
            {
                return null;
            }
            values.Add(value);
        }
        var nesting = 0;
        for (var k = index + 1; k < end; k++)
        {
            var words = commands[k].Words;
            foreach (var word in words)
            {
                if (word is "for" or "while" or "until" or "select")
                {
                    nesting++;
                }
                else if (word == "done")
                {
                    if (nesting == 0)
                    {
                        return words.Count == 1 ? (raw[i + 1], values, k) : null;
                    }
                    nesting--;
                }
                if (!_reserved.Contains(word) && word is not ("for" or "while" or "until" or "select"))
                {
                    break; // only leading reserved words count; the rest of the command is arguments
                }
            }
        }
        return null;
    }

    private static string? ExpandShell(string raw, Context context) => WordExpander.Expand(raw, context.Lookup, '\\', shell: true);

    private static void AnalyzeCommand(ShellCommand command, Context context, List<RunConflict> conflicts, int depth)
    {
        var raw = command.Words;
        var expandedForMessage = string.Join(' ', raw.Concat(command.Redirects.Select(r => $"{r.Operator} {r.Target}")));
        foreach (var redirect in command.Redirects)
        {
            if (redirect.Operator.Contains('>', StringComparison.Ordinal) && !redirect.Operator.EndsWith('&'))
            {
                Check(ExpandShell(redirect.Target, context), "writes", true, context, conflicts, expandedForMessage);
            }
        }

        var i = 0;
        while (i < raw.Count && _reserved.Contains(raw[i]))
        {
            i++;
        }
        if (i >= raw.Count)
        {
            return;
        }
        if (raw[i] is "for" or "select")
        {
            if (i + 1 < raw.Count)
            {
                context.Locals[raw[i + 1]] = VariableLookup.Unknown;
            }
            return;
        }
        if (raw[i] is "case" or "function" or "esac")
        {
            return;
        }
        var assignments = new List<(string Name, string? Value)>();
        while (i < raw.Count && AssignmentRegex().Match(raw[i]) is { Success: true } match)
        {
            assignments.Add((match.Groups[1].Value, ExpandShell(raw[i][match.Length..], context)));
            i++;
        }
        if (i >= raw.Count)
        {
            foreach (var (name, value) in assignments)
            {
                context.Locals[name] = VariableLookup.FromExpansion(value);
            }
            return;
        }
        var rest = raw.Skip(i).ToList();
        var words = rest.Select(w => ExpandShell(w, context)).ToList();
        AnalyzeWords(rest, words, command.HeredocBodies, context, conflicts, depth);
    }

    private static void AnalyzeWords(
        List<string> raw, List<string?> words, IReadOnlyList<string> stdinBodies, Context context, List<RunConflict> conflicts, int depth)
    {
        // Look through wrappers.
        while (words.Count > 0 && words[0] is { } first)
        {
            var skip = ShellPaths.BaseName(first) switch
            {
                "sudo" => SkipOptions(words, 1, ["-u", "-g", "-C", "-D", "-h", "-p", "-U", "-r", "-t", "-T"], allowAssignments: true),
                "env" => SkipOptions(words, 1, ["-u", "-C", "-S", "--unset", "--chdir"], allowAssignments: true),
                "nice" => SkipOptions(words, 1, ["-n"], allowAssignments: false),
                "nohup" or "exec" or "command" or "builtin" or "time" or "busybox" or "doas" => SkipOptions(words, 1, [], allowAssignments: false),
                "timeout" => SkipOptions(words, 1, ["-s", "-k"], allowAssignments: false) + 1,
                _ => 0,
            };
            if (skip == 0)
            {
                break;
            }
            skip = Math.Min(skip, words.Count);
            raw = raw[skip..];
            words = words[skip..];
        }
        if (words.Count == 0 || words[0] is not { } commandPath)
        {
            return;
        }
        var text = string.Join(' ', words.Select((w, k) => w ?? raw[k]));
        var name = ShellPaths.BaseName(commandPath);

        void Hit(string? path, string action, bool replaces = false) => Check(path, action, replaces, context, conflicts, text);

        switch (name)
        {
            case "export" or "local" or "declare" or "typeset" or "readonly":
                for (var k = 1; k < raw.Count; k++)
                {
                    if (AssignmentRegex().Match(raw[k]) is { Success: true } match)
                    {
                        context.Locals[match.Groups[1].Value] = VariableLookup.FromExpansion(ExpandShell(raw[k][match.Length..], context));
                        if (name == "export")
                        {
                            context.Exported.Add(match.Groups[1].Value);
                        }
                    }
                    else if (name == "export" && !raw[k].StartsWith('-'))
                    {
                        context.Exported.Add(raw[k]);
                    }
                }
                return;
            case "read":
                foreach (var variable in raw.Skip(1).Where(w => !w.StartsWith('-')))
                {
                    context.Locals[variable] = VariableLookup.Unknown;
                }
                return;
            case "unset":
                foreach (var variable in raw.Skip(1).Where(w => !w.StartsWith('-')))
                {
                    context.Locals[variable] = VariableLookup.Unset;
                }
                return;
            case "cd" or "pushd":
                var target = Parse(words, "", []).Operands.FirstOrDefault();
                context.Cwd = target is null || target == "-" ? null : ShellPaths.Resolve(target, context.Cwd);
                return;
        }

        if (_shells.Contains(name))
        {
            AnalyzeShellInvocation(words, stdinBodies, context, conflicts, depth);
            return;
        }

        switch (name)
        {
            case "mkdir":
            {
                var args = Parse(words, "m", ["--mode"]);
                var parents = args.Has("-p", "--parents");
                foreach (var operand in args.Operands)
                {
                    Hit(operand, "creates", replaces: !parents);
                }
                break;
            }
            case "rm" or "rmdir" or "unlink" or "shred":
                foreach (var operand in Parse(words, "", []).Operands)
                {
                    Hit(operand, "removes", replaces: true);
                }
                break;
            case "touch":
                foreach (var operand in Parse(words, "dtr", ["--date", "--reference"]).Operands)
                {
                    Hit(operand, "creates");
                }
                break;
            case "tee":
                foreach (var operand in Parse(words, "", []).Operands)
                {
                    Hit(operand, "writes", replaces: true);
                }
                break;
            case "ln":
            {
                var args = Parse(words, "tS", ["--target-directory", "--suffix"]);
                if (args.Option("-t", "--target-directory") is { } directory)
                {
                    Hit(directory, "creates links in");
                }
                else if (args.Operands.Count >= 2)
                {
                    Hit(args.Operands[^1], "symlinks", replaces: true);
                }
                else if (args.Operands.Count == 1 && args.Operands[0] is { } only)
                {
                    Hit(ShellPaths.BaseName(only), "symlinks", replaces: true);
                }
                break;
            }
            case "mv":
            {
                var args = Parse(words, "tS", ["--target-directory", "--suffix"]);
                foreach (var operand in args.Operands)
                {
                    Hit(operand, "moves", replaces: true);
                }
                Hit(args.Option("-t", "--target-directory"), "moves into");
                break;
            }
            case "cp" or "install" or "rsync" or "scp":
            {
                var args = name switch
                {
                    "install" => Parse(words, "mogtS", ["--mode", "--owner", "--group", "--target-directory", "--suffix"]),
                    "rsync" => Parse(words, "efT", ["--exclude", "--include", "--filter", "--exclude-from", "--include-from", "--rsh", "--chown", "--chmod", "--temp-dir", "--files-from", "--log-file", "--password-file"]),
                    "scp" => Parse(words, "cFiJloPS", []),
                    _ => Parse(words, "tS", ["--target-directory", "--suffix"]),
                };
                if (name == "install" && args.Has("-d", "--directory"))
                {
                    foreach (var operand in args.Operands)
                    {
                        Hit(operand, "creates");
                    }
                }
                else if (args.Option("-t", "--target-directory") is { } directory)
                {
                    Hit(directory, "copies into");
                }
                else if (args.Operands.Count >= 2 && !IsRemote(args.Operands[^1]))
                {
                    Hit(args.Operands[^1], "copies into");
                }
                break;
            }
            case "chmod" or "chown" or "chgrp":
            {
                var args = Parse(words, "", ["--reference"], chmodModes: name == "chmod");
                var targets = args.Has("--reference") ? args.Operands : args.Operands.Skip(1);
                var action = name == "chmod" ? "changes the permissions of" : "changes the ownership of";
                foreach (var operand in targets)
                {
                    Hit(operand, action);
                }
                break;
            }
            case "tar" or "bsdtar":
            {
                var tarWords = words.ToList();
                if (tarWords.Count > 1 && tarWords[1] is { Length: > 0 } bundle && char.IsAsciiLetter(bundle[0]) && bundle.All(char.IsAsciiLetter))
                {
                    tarWords[1] = "-" + bundle; // old-style "tar xzf file"
                }
                var args = Parse(tarWords, "fCbHKgLNTVX", ["--file", "--directory", "--files-from", "--exclude-from", "--owner", "--group", "--mode", "--transform"]);
                if (args.Has("-x", "--extract", "--get"))
                {
                    Hit(args.Option("-C", "--directory") ?? ".", "extracts into");
                }
                break;
            }
            case "unzip":
            {
                var args = Parse(words, "d", []);
                Hit(args.Option("-d") ?? ".", "extracts into");
                break;
            }
            case "git":
            {
                var clone = words.IndexOf("clone");
                if (clone < 0)
                {
                    break;
                }
                var args = Parse(words[clone..], "bocju", ["--branch", "--origin", "--config", "--depth", "--reference", "--separate-git-dir", "--jobs", "--upload-pack", "--template", "--shallow-since", "--shallow-exclude"]);
                if (args.Operands.Count >= 2)
                {
                    Hit(args.Operands[1], "clones into");
                }
                else if (args.Operands.Count == 1 && args.Operands[0] is { } repository)
                {
                    var directory = ShellPaths.BaseName(repository.TrimEnd('/'));
                    Hit(directory.EndsWith(".git", StringComparison.Ordinal) ? directory[..^4] : directory, "clones into");
                }
                break;
            }
            case "curl":
            {
                var args = Parse(words, "oHdXuAeEFKrTwxyzbcDQmCYUt", ["--output", "--output-dir", "--header", "--data", "--request", "--user", "--user-agent", "--referer", "--form", "--config", "--max-time", "--retry", "--connect-timeout", "--cacert", "--cert", "--key", "--proxy", "--write-out"]);
                var output = args.Option("-o", "--output");
                if (output is not null && output != "-")
                {
                    Hit(output, "downloads to", replaces: true);
                }
                Hit(args.Option("--output-dir"), "downloads into");
                break;
            }
            case "wget":
            {
                var args = Parse(words, "OPoaeUtTwQlAR", ["--output-document", "--directory-prefix", "--output-file", "--append-output", "--user-agent", "--header", "--tries", "--timeout", "--user", "--password"]);
                var output = args.Option("-O", "--output-document");
                if (output is not null && output != "-")
                {
                    Hit(output, "downloads to", replaces: true);
                }
                Hit(args.Option("-P", "--directory-prefix"), "downloads into");
                break;
            }
            case "find":
            {
                var removes = words.Contains("-delete");
                for (var k = 1; k < words.Count - 1 && !removes; k++)
                {
                    removes = words[k] is "-exec" or "-execdir" && words[k + 1] is { } executed && ShellPaths.BaseName(executed) is "rm" or "rmdir" or "unlink";
                }
                if (!removes)
                {
                    break;
                }
                for (var k = 1; k < words.Count && words[k] is { } path && !path.StartsWith('-') && path is not ("(" or "!"); k++)
                {
                    Hit(path, "removes files in", replaces: true);
                }
                break;
            }
            case "dd":
                foreach (var word in words.Skip(1))
                {
                    if (word is not null && word.StartsWith("of=", StringComparison.Ordinal))
                    {
                        Hit(word[3..], "writes", replaces: true);
                    }
                }
                break;
            case "useradd":
            {
                var args = Parse(words, "bcdefgGkKpsuRPZ", ["--base-dir", "--comment", "--home-dir", "--expiredate", "--inactive", "--gid", "--groups", "--skel", "--key", "--password", "--shell", "--uid", "--root", "--prefix", "--selinux-user"]);
                if (args.Has("-m", "--create-home"))
                {
                    Hit(args.Option("-d", "--home-dir"), "creates the home directory");
                }
                break;
            }
            case "adduser":
            {
                var args = Parse(words, "hgsGuk", ["--home", "--shell", "--gecos", "--ingroup", "--uid", "--gid", "--firstuid", "--lastuid", "--conf", "--comment"]);
                if (!args.Has("-H", "--no-create-home"))
                {
                    Hit(args.Option("-h", "--home"), "creates the home directory");
                }
                break;
            }
        }
    }

    private static void AnalyzeShellInvocation(List<string?> words, IReadOnlyList<string> stdinBodies, Context context, List<RunConflict> conflicts, int depth)
    {
        var i = 1;
        var commandString = false;
        while (i < words.Count && words[i] is { } option)
        {
            if (option is "-o" or "+o" or "-O" or "+O")
            {
                i += 2;
                continue;
            }
            if (option.StartsWith("--", StringComparison.Ordinal))
            {
                i++;
                continue;
            }
            if (option.Length > 1 && (option[0] is '-' or '+'))
            {
                commandString |= option[0] == '-' && option.Contains('c', StringComparison.Ordinal);
                // "-euo pipefail": a cluster with o or O takes the next word as its argument.
                i += option.Contains('o', StringComparison.Ordinal) || option.Contains('O', StringComparison.Ordinal) ? 2 : 1;
                continue;
            }
            break;
        }
        if (commandString)
        {
            if (i < words.Count && words[i] is { } script)
            {
                AnalyzeScript(script, context.ChildShell(), conflicts, depth + 1);
            }
            return;
        }
        if (i >= words.Count)
        {
            foreach (var body in stdinBodies)
            {
                AnalyzeScript(body, context.ChildShell(), conflicts, depth + 1); // "sh <<EOF": the script comes on stdin
            }
        }
    }

    private static bool IsRemote(string? operand)
    {
        if (operand is null)
        {
            return false;
        }
        var colon = operand.IndexOf(':', StringComparison.Ordinal);
        var slash = operand.IndexOf('/', StringComparison.Ordinal);
        return colon > 0 && (slash < 0 || colon < slash);
    }

    private static int SkipOptions(List<string?> words, int start, string[] withArgument, bool allowAssignments)
    {
        var i = start;
        while (i < words.Count && words[i] is { } word)
        {
            if (word == "--")
            {
                return i + 1;
            }
            if (word.StartsWith('-'))
            {
                i += withArgument.Contains(word) ? 2 : 1;
                continue;
            }
            if (allowAssignments && AssignmentRegex().IsMatch(word))
            {
                i++;
                continue;
            }
            break;
        }
        return i;
    }

    private static void Check(string? path, string action, bool replaces, Context context, List<RunConflict> conflicts, string command)
    {
        if (path is null || path.Length == 0)
        {
            return;
        }
        var resolved = ShellPaths.Resolve(path, context.Cwd);
        if (resolved is null || KanikoPaths.ProtectedRoot(resolved) is not { } root)
        {
            return;
        }
        if (!conflicts.Any(c => c.Action == action && c.Path == resolved))
        {
            conflicts.Add(new RunConflict(action, resolved, root, command.Length > 120 ? command[..117] + "..." : command, replaces && resolved == root));
        }
    }

    private sealed record Arguments(List<string?> Operands, List<(string Name, string? Value)> Options)
    {
        public string? Option(params string[] names)
        {
            string? value = null;
            foreach (var (name, optionValue) in Options)
            {
                if (names.Contains(name))
                {
                    value = optionValue;
                }
            }
            return value;
        }

        public bool Has(params string[] names) => Options.Any(o => names.Contains(o.Name));
    }

    /// <summary>Getopt-style parsing from words[1]: <c>-abc</c> clusters, <c>-m755</c>, <c>-m 755</c>,
    /// <c>--name=value</c>, <c>--name value</c> (for names in <paramref name="longWithArgument"/>), <c>--</c>.
    /// A word that is not static counts as an operand.</summary>
    private static Arguments Parse(List<string?> words, string shortWithArgument, string[] longWithArgument, bool chmodModes = false)
    {
        var operands = new List<string?>();
        var options = new List<(string, string?)>();
        var endOfOptions = false;
        for (var i = 1; i < words.Count; i++)
        {
            var word = words[i];
            if (word is null || endOfOptions || word == "-" || !word.StartsWith('-'))
            {
                operands.Add(word);
                continue;
            }
            if (word == "--")
            {
                endOfOptions = true;
                continue;
            }
            if (chmodModes && word.Length > 1 && word.Skip(1).All(ch => ch is 'r' or 'w' or 'x' or 'X' or 's' or 't'))
            {
                operands.Add(word); // "chmod -x file": a mode, not an option
                continue;
            }
            if (word.StartsWith("--", StringComparison.Ordinal))
            {
                var equals = word.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    options.Add((word[..equals], word[(equals + 1)..]));
                }
                else if (longWithArgument.Contains(word) && i + 1 < words.Count)
                {
                    options.Add((word, words[++i]));
                }
                else
                {
                    options.Add((word, null));
                }
                continue;
            }
            for (var j = 1; j < word.Length; j++)
            {
                var letter = word[j];
                if (shortWithArgument.Contains(letter, StringComparison.Ordinal))
                {
                    var value = j + 1 < word.Length ? word[(j + 1)..] : (i + 1 < words.Count ? words[++i] : null);
                    options.Add(("-" + letter, value));
                    break;
                }
                options.Add(("-" + letter, null));
            }
        }
        return new Arguments(operands, options);
    }
}
