using Microsoft.Extensions.Logging;
using TrapReplace.Trapping;

namespace TrapReplace.Experiments.Logging;

/// <summary>Library log messages at or above <paramref name="minimum"/> as one-line notes on the terminal (a damaged
/// checkpoint that was moved aside, an unverified download's SHA-256); nothing when <paramref name="note"/> is null.</summary>
internal sealed class NoteLogger(Action<string>? note, LogLevel minimum) : ILogger
{
    /// <summary>The same notes as the typed logger a trainer takes.</summary>
    public ILogger<Trapping.TrapTrainer> ForTrainer() => new Typed<Trapping.TrapTrainer>(this);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => note is not null && logLevel >= minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) note!(formatter(state, exception));
    }

    /// <summary>A factory whose every logger writes these notes, for library parts that take an <see cref="ILoggerFactory"/>.</summary>
    public ILoggerFactory AsFactory() => new Factory(this);

    private sealed class Factory(NoteLogger logger) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => logger;

        public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("notes go to the run's terminal only");

        public void Dispose()
        {
        }
    }

    private sealed class Typed<T>(ILogger inner) : ILogger<T>
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
