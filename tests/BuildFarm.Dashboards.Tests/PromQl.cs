using System.Text;

namespace BuildFarm.Dashboards.Tests;

/// <summary>A label matcher of a selector: <c>label op "value"</c>.</summary>
internal sealed record Matcher(string Label, string Op, string Value);

/// <summary>A vector selector: a metric name (null for <c>{__name__=~"…"}</c> alone) and its matchers.</summary>
internal sealed record Selector(string? Metric, IReadOnlyList<Matcher> Matchers);

/// <summary>
/// Just enough of PromQL's lexical structure to list the selectors and the grouping labels of an expression (what the
/// tests check against the scraped metrics). Not a parser: Prometheus itself judges the syntax.
/// </summary>
internal static class PromQl
{
    private static readonly HashSet<string> s_grouping = new(StringComparer.Ordinal) { "by", "without", "on", "ignoring", "group_left", "group_right" };

    private static readonly HashSet<string> s_keywords = new(StringComparer.Ordinal)
    {
        "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
        // Aggregation operators: followed by "by"/"without" or "(", never a metric.
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    };

    /// <summary>Every vector selector of <paramref name="expr"/>.</summary>
    public static IReadOnlyList<Selector> Selectors(string expr) => Scan(expr).Selectors;

    /// <summary>Every label named in <c>by</c>, <c>without</c>, <c>on</c>, <c>ignoring</c>, <c>group_left</c>, <c>group_right</c>.</summary>
    public static IReadOnlyList<string> GroupingLabels(string expr) => Scan(expr).Grouping;

    private static (List<Selector> Selectors, List<string> Grouping) Scan(string expr)
    {
        var tokens = Tokenize(expr);
        var selectors = new List<Selector>();
        var grouping = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (token == "[")
            {
                // A range or subquery duration: skip to its end.
                while (i < tokens.Count && tokens[i] != "]")
                {
                    i++;
                }
                continue;
            }
            if (token == "{")
            {
                selectors.Add(new Selector(null, ReadMatchers(tokens, ref i, expr)));
                continue;
            }
            if (!IsIdentifier(token))
            {
                continue;
            }
            var next = i + 1 < tokens.Count ? tokens[i + 1] : "";
            if (s_grouping.Contains(token))
            {
                if (next == "(")
                {
                    i += 2;
                    for (; i < tokens.Count && tokens[i] != ")"; i++)
                    {
                        if (tokens[i] != ",")
                        {
                            grouping.Add(tokens[i]);
                        }
                    }
                }
                continue;
            }
            if (next == "(" || s_keywords.Contains(token))
            {
                continue; // a function or aggregation, or an operator keyword
            }
            if (next == "{")
            {
                i++;
                selectors.Add(new Selector(token, ReadMatchers(tokens, ref i, expr)));
            }
            else
            {
                selectors.Add(new Selector(token, []));
            }
        }
        return (selectors, grouping);
    }

    private static List<Matcher> ReadMatchers(List<string> tokens, ref int i, string expr)
    {
        var matchers = new List<Matcher>();
        i++; // past "{"
        while (i < tokens.Count && tokens[i] != "}")
        {
            if (tokens[i] == ",")
            {
                i++;
                continue;
            }
            if (i + 2 >= tokens.Count || !IsIdentifier(tokens[i]) || !tokens[i + 2].StartsWith('"'))
            {
                throw new FormatException($"cannot read the label matchers at token '{tokens[i]}' of: {expr}");
            }
            matchers.Add(new Matcher(tokens[i], tokens[i + 1], tokens[i + 2][1..^1]));
            i += 3;
        }
        return matchers;
    }

    private static bool IsIdentifier(string token) => token.Length > 0 && (char.IsLetter(token[0]) || token[0] == '_' || token[0] == ':');

    private static List<string> Tokenize(string expr)
    {
        var tokens = new List<string>();
        for (var i = 0; i < expr.Length;)
        {
            var c = expr[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c is '"' or '\'' or '`')
            {
                var end = i + 1;
                var value = new StringBuilder();
                for (; end < expr.Length && expr[end] != c; end++)
                {
                    if (expr[end] == '\\' && c != '`' && end + 1 < expr.Length)
                    {
                        end++;
                    }
                    value.Append(expr[end]);
                }
                if (end >= expr.Length)
                {
                    throw new FormatException($"unterminated string in: {expr}");
                }
                tokens.Add("\"" + value + "\"");
                i = end + 1;
            }
            else if (char.IsLetter(c) || c is '_' or ':')
            {
                var end = i;
                while (end < expr.Length && (char.IsLetterOrDigit(expr[end]) || expr[end] is '_' or ':'))
                {
                    end++;
                }
                tokens.Add(expr[i..end]);
                i = end;
            }
            else if (char.IsDigit(c) || c == '.')
            {
                var end = i;
                while (end < expr.Length && (char.IsLetterOrDigit(expr[end]) || expr[end] == '.'))
                {
                    end++;
                }
                tokens.Add(expr[i..end]);
                i = end;
            }
            else if (i + 1 < expr.Length && expr.Substring(i, 2) is "=~" or "!~" or "!=" or "==" or ">=" or "<=")
            {
                tokens.Add(expr.Substring(i, 2));
                i += 2;
            }
            else
            {
                tokens.Add(c.ToString());
                i++;
            }
        }
        return tokens;
    }
}
