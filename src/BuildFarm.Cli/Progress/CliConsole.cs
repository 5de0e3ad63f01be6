using System.Runtime.InteropServices;
using Spectre.Console;

namespace BuildFarm.Cli.Progress;

/// <summary>Spectre.Console over a command's output, and Ctrl+C handling for long-running commands.</summary>
public static class CliConsole
{
    /// <summary>True when <paramref name="io"/> writes to the process's console and that is a terminal (not a pipe or file).</summary>
    public static bool IsTerminal(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        return ReferenceEquals(io.Out, Console.Out) && !Console.IsOutputRedirected;
    }

    /// <summary>
    /// A Spectre console writing to <paramref name="io"/>'s output: colours and live redraw on a terminal; otherwise no ANSI
    /// at all and a fixed width of 160 columns (tables in logs and tests do not wrap).
    /// </summary>
    public static IAnsiConsole Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var terminal = IsTerminal(io);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(io.Out),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal)
        {
            console.Profile.Width = 160;
        }
        return console;
    }

    /// <summary>
    /// A token that fires on the first Ctrl+C or SIGTERM when <paramref name="io"/> is the process's console (the second
    /// Ctrl+C ends the process as usual), linked to <paramref name="cancellationToken"/>. Dispose to unhook.
    /// </summary>
    public static Interrupt CaptureInterrupt(CliIO io, CancellationToken cancellationToken) => new(io, cancellationToken);

    public sealed class Interrupt : IDisposable
    {
        private readonly CancellationTokenSource _source;
        private readonly bool _hooked;
        private readonly PosixSignalRegistration? _sigterm;

        internal Interrupt(CliIO io, CancellationToken cancellationToken)
        {
            _source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (ReferenceEquals(io.Out, Console.Out))
            {
                Console.CancelKeyPress += OnCancelKeyPress;
                _hooked = true;
                _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSigterm);
            }
        }

        public CancellationToken Token => _source.Token;

        public bool Requested => _source.IsCancellationRequested;

        private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
        {
            if (_source.IsCancellationRequested)
            {
                return;
            }
            e.Cancel = true;
            _source.Cancel();
        }

        private void OnSigterm(PosixSignalContext context)
        {
            context.Cancel = true;
            _source.Cancel();
        }

        public void Dispose()
        {
            if (_hooked)
            {
                Console.CancelKeyPress -= OnCancelKeyPress;
            }
            _sigterm?.Dispose();
            _source.Dispose();
        }
    }
}
