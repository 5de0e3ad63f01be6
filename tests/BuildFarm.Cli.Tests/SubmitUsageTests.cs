namespace BuildFarm.Cli.Tests;

/// <summary>Usage errors exit 2 before any request is made (the API address is unreachable on purpose).</summary>
public sealed class SubmitUsageTests
{
    private const string Nowhere = "http://127.0.0.1:1/";

    [Theory]
    [InlineData("give either --manifest", "submit")]
    [InlineData("give either --manifest", "submit", "--manifest", "m.yaml", "--context", "s3://b/c.tar.gz")]
    [InlineData("--destination is required", "submit", "--context", "s3://b/c.tar.gz")]
    [InlineData("--only is for a manifest", "submit", "--context", "s3://b/c.tar.gz", "--destination", "r.example.com/a:1", "--only", "a")]
    [InlineData("--target is for one build", "submit", "--manifest", "m.yaml", "--target", "prod")]
    [InlineData("--build-arg: 'NOVALUE' must be KEY=VALUE", "submit", "--context", "s3://b/c.tar.gz", "--destination", "r.example.com/a:1", "--build-arg", "NOVALUE")]
    [InlineData("--api: 'ftp://x' is not an http(s) URL", "status", "b-1", "--api", "ftp://x")]
    public async Task BadCombination_ExitsTwoNamingTheOption(string message, params string[] args)
    {
        var result = await CliRunner.RunAsync([.. args, .. args.Contains("--api") ? Array.Empty<string>() : ["--api", Nowhere]]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Output_NotTextOrJson_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("status", "b-1", "--output", "xml", "--api", Nowhere);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("xml", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Manifest_Missing_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("submit", "--manifest", Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.yaml"), "--api", Nowhere);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("cannot read the manifest", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_WithoutId_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("status");

        Assert.Equal(2, result.ExitCode);
    }
}
