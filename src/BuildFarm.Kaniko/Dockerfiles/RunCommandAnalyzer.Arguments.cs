namespace BuildFarm.Kaniko.Dockerfiles;

public static partial class RunCommandAnalyzer
{
    // ---- getopt-style argument parsing for the per-command rules ------------------------------------

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
