using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace BuildFarm.Kaniko.Specs;

/// <summary>
/// A bounded parser of Kubernetes resource quantities (<c>500m</c>, <c>2</c>, <c>512Mi</c>, <c>4Gi</c>, <c>1.5e3</c>).
/// It never builds a number larger than it accepts: the text is at most <see cref="MaxLength"/> characters, the number
/// at most <see cref="MaxDigits"/> digits and a decimal exponent at most <see cref="MaxExponent"/> in size, and the value
/// is computed in <see cref="decimal"/> (an overflow is a refusal, not an allocation). Pure.
/// </summary>
public static class Quantity
{
    /// <summary>Longest quantity text accepted (Kubernetes quantities in pod specs are a handful of characters).</summary>
    public const int MaxLength = 32;

    /// <summary>Most digits in the number part (before and after the point together).</summary>
    public const int MaxDigits = 20;

    /// <summary>Largest absolute decimal exponent (<c>e18</c>).</summary>
    public const int MaxExponent = 18;

    private static readonly (string Suffix, decimal Factor)[] Suffixes =
    [
        ("Ki", 1024m), ("Mi", 1024m * 1024), ("Gi", 1024m * 1024 * 1024), ("Ti", 1024m * 1024 * 1024 * 1024),
        ("Pi", 1024m * 1024 * 1024 * 1024 * 1024), ("Ei", 1024m * 1024 * 1024 * 1024 * 1024 * 1024),
        ("n", 0.000000001m), ("u", 0.000001m), ("m", 0.001m), ("k", 1e3m), ("M", 1e6m), ("G", 1e9m), ("T", 1e12m), ("P", 1e15m), ("E", 1e18m),
    ];

    /// <summary>Parses <paramref name="text"/> to its value (cores for CPU, bytes for memory and storage); negative
    /// values parse (the caller decides whether they are allowed).</summary>
    public static bool TryParse(string? text, out decimal value, [NotNullWhen(false)] out string? error)
    {
        value = 0;
        const string Form = "is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 4Gi)";
        if (string.IsNullOrEmpty(text))
        {
            error = $"'' {Form}";
            return false;
        }
        if (text.Length > MaxLength)
        {
            error = $"is {text.Length} characters long; a quantity has at most {MaxLength}";
            return false;
        }
        var span = text.AsSpan();
        var negative = false;
        if (span[0] is '+' or '-')
        {
            negative = span[0] == '-';
            span = span[1..];
        }
        var numberEnd = 0;
        var digits = 0;
        var points = 0;
        while (numberEnd < span.Length && (char.IsAsciiDigit(span[numberEnd]) || span[numberEnd] == '.'))
        {
            if (span[numberEnd] == '.')
            {
                points++;
            }
            else
            {
                digits++;
            }
            numberEnd++;
        }
        if (digits == 0 || points > 1)
        {
            error = $"'{text}' {Form}";
            return false;
        }
        if (digits > MaxDigits)
        {
            error = $"'{text}' has {digits} digits; a quantity has at most {MaxDigits}";
            return false;
        }
        var number = decimal.Parse(span[..numberEnd], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
        var suffix = span[numberEnd..];
        decimal factor = 1;
        if (suffix.Length > 0)
        {
            if (suffix[0] is 'e' or 'E' && suffix.Length > 1)
            {
                if (suffix.Length > 4 || !int.TryParse(suffix[1..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exponent)
                    || Math.Abs(exponent) > MaxExponent)
                {
                    error = $"'{text}': the exponent must be a whole number from -{MaxExponent} to {MaxExponent}";
                    return false;
                }
                factor = Pow10(exponent);
            }
            else if (FindSuffix(suffix) is { } known)
            {
                factor = known;
            }
            else
            {
                error = $"'{text}' {Form}: unknown suffix '{suffix}'";
                return false;
            }
        }
        try
        {
            value = number * factor;
        }
        catch (OverflowException)
        {
            error = $"'{text}' is too large";
            return false;
        }
        if (negative)
        {
            value = -value;
        }
        error = null;
        return true;
    }

    private static decimal? FindSuffix(ReadOnlySpan<char> suffix)
    {
        foreach (var (name, factor) in Suffixes)
        {
            if (suffix.SequenceEqual(name))
            {
                return factor;
            }
        }
        return null;
    }

    private static decimal Pow10(int exponent)
    {
        var result = 1m;
        for (var i = 0; i < Math.Abs(exponent); i++)
        {
            result *= 10;
        }
        return exponent < 0 ? 1 / result : result;
    }
}
