using Microsoft.Extensions.Options;

namespace BuildFarm.Hosting;

/// <summary>Turns an options class's <c>Validate()</c> list into an <see cref="IValidateOptions{T}"/> (every problem,
/// by name, in one <see cref="OptionsValidationException"/> at start with ValidateOnStart).</summary>
public sealed class SectionValidator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T>
    where T : class
{
    public ValidateOptionsResult Validate(string? name, T options) =>
        validate(options) is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
}
