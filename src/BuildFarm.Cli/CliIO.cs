namespace BuildFarm.Cli;

/// <summary>The streams a command reads and writes, so that tests can run commands in process.</summary>
public sealed record CliIO(TextReader In, TextWriter Out, TextWriter Error)
{
    public static CliIO Console => new(System.Console.In, System.Console.Out, System.Console.Error);
}
