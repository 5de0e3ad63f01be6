using BuildFarm.Kaniko.Pods;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Options;

/// <summary>Turns each options class's <c>Validate()</c> list into an <see cref="IValidateOptions{T}"/> for ValidateOnStart.</summary>
internal sealed class SectionValidator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T>
    where T : class
{
    public ValidateOptionsResult Validate(string? name, T options) =>
        validate(options) is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
}

internal static class SectionValidators
{
    public static IReadOnlyList<string> Kaniko(KanikoPodOptions options) =>
        [.. options.Validate().Select(e => $"{KanikoPodOptions.SectionName}:{e}")];
}
