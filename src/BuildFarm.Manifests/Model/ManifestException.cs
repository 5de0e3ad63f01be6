using System.Text;

namespace BuildFarm.Manifests.Model;

/// <summary>One problem in a manifest: which image (null for the top level or the defaults), which field, and where.</summary>
public sealed record ManifestError(string? Image, string Field, int Line, int Column, string Message)
{
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("line ").Append(Line).Append(", column ").Append(Column).Append(": ");
        if (Image is not null)
        {
            text.Append("image '").Append(Image).Append("': ");
        }
        if (Field.Length > 0)
        {
            text.Append(Field).Append(": ");
        }
        return text.Append(Message).ToString();
    }
}

/// <summary>A manifest that cannot be used; <see cref="Errors"/> lists every problem found, each with its line.</summary>
public sealed class ManifestException : Exception
{
    public ManifestException(string source, IReadOnlyList<ManifestError> errors)
        : base(Format(source, errors))
    {
        Source = source;
        Errors = errors;
    }

    public ManifestException()
        : this("manifest", [])
    {
    }

    public ManifestException(string message)
        : base(message)
    {
        Source = "manifest";
        Errors = [];
    }

    public ManifestException(string message, Exception innerException)
        : base(message, innerException)
    {
        Source = "manifest";
        Errors = [];
    }

    /// <summary>The manifest's path or name.</summary>
    public new string Source { get; }

    public IReadOnlyList<ManifestError> Errors { get; }

    private static string Format(string source, IReadOnlyList<ManifestError> errors)
    {
        var text = new StringBuilder();
        text.Append(source).Append(": ").Append(errors.Count).Append(errors.Count == 1 ? " problem" : " problems");
        foreach (var error in errors)
        {
            text.Append("\n  ").Append(error);
        }
        return text.ToString();
    }
}
