using System.Diagnostics;
using System.Globalization;
using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Cli.Matrix;

/// <summary>
/// Runs a slice of attacks x defenses x seeds, one child process per cell (TorchSharp's generator and thread
/// pool are process-wide, so a fresh process is what makes a cell reproducible on its own). Finished cells are
/// skipped, so rerunning the same command resumes an interrupted matrix.
/// </summary>
public sealed class MatrixRunner(TextWriter output)
{
    /// <summary>How long a cancelled cell gets to stop cleanly before it is killed.</summary>
    public static TimeSpan ChildStopTimeout { get; } = TimeSpan.FromMinutes(2);

    /// <summary>Every cell of the matrix, grouped so cells sharing a stage-1 network are adjacent. With
    /// <paramref name="defenseSeeds"/>, each defended cell is repeated once per defense seed (<see cref="CellSpec.DefenseSeed"/>);
    /// a defense seed equal to the cell's seed is the cell itself, and undefended cells have no defense seed.</summary>
    public static IReadOnlyList<CellSpec> Cells(CellSpec template, IReadOnlyList<AttackName> attacks, IReadOnlyList<DefenseName> defenses, IReadOnlyList<int> seeds,
        IReadOnlyList<int>? defenseSeeds = null) =>
        (from seed in seeds
         from attack in attacks
         from defense in defenses.OrderBy(d => d == DefenseCatalog.TrapReplace ? 0 : 1)
         from defenseSeed in defenseSeeds is null || defense.IsNone ? [null] : defenseSeeds.Select(d => d == seed ? null : (int?)d).Distinct()
         select template with { Attack = attack, Defense = defense, Seed = seed, DefenseSeed = defenseSeed }).ToList();

    /// <summary>Runs the cells that are not finished; returns the process exit code (0 when all succeeded).</summary>
    /// <param name="cells">The slice to run.</param>
    /// <param name="resultsDirectory">Where result files are.</param>
    /// <param name="childArguments">Arguments of <c>run</c> for a cell (without the program path).</param>
    /// <param name="cancellationToken">Stops after killing the running child.</param>
    public async Task<int> RunAsync(IReadOnlyList<CellSpec> cells, string resultsDirectory, Func<CellSpec, IReadOnlyList<string>> childArguments, CancellationToken cancellationToken)
    {
        var open = cells.Where(c => !ResultFiles.IsFinished(resultsDirectory, c)).ToList();
        // A recorded divergence repeats on every rerun (cells are deterministic): skip it until its record is deleted.
        var recordedFailures = open.Where(c => ResultFiles.HasFailed(resultsDirectory, c)).ToList();
        var todo = open.Except(recordedFailures).ToList();
        output.WriteLine($"matrix: {cells.Count} cells in this slice, {cells.Count - open.Count} already finished, {todo.Count} to run; results in {resultsDirectory}");
        foreach (var cell in recordedFailures)
            output.WriteLine($"skipped {cell.Dataset} {cell.Backbone} {cell.AttackTag} {cell.Defense} seed {cell.SeedLabel} ({cell.Profile}): it failed before; delete {ResultFiles.FailurePath(resultsDirectory, cell)} to try it again");
        int failed = 0, done = 0;
        var clock = Stopwatch.StartNew();
        foreach (var cell in todo)
        {
            cancellationToken.ThrowIfCancellationRequested();
            done++;
            output.WriteLine($"[{done}/{todo.Count}] {cell.Dataset} {cell.Backbone} {cell.AttackTag} {cell.Defense} seed {cell.SeedLabel} ({cell.Profile})");
            int code = await RunChildAsync(childArguments(cell), cancellationToken).ConfigureAwait(false);
            if (code != 0)
            {
                failed++;
                output.WriteLine($"[{done}/{todo.Count}] failed with exit code {code}; the matrix goes on (rerun to retry it)");
            }
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"matrix: {todo.Count - failed} cells finished, {failed} failed, {clock.Elapsed.TotalMinutes:F1} min"));
        return failed == 0 ? 0 : 1;
    }

    private static async Task<int> RunChildAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo { UseShellExecute = false };
        // Under `dotnet trap-replace.dll` the process is the dotnet host and the assembly goes first.
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this program's path to start cells");
        start.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(MatrixRunner).Assembly.Location);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {self}");
        try
        {
            await child.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C reaches the child through the process group, but SIGTERM (kill, docker stop, an eviction) reaches
            // only this process: pass it on, and wait for the child to stop between steps and keep its checkpoint.
            Signals.Terminate(child.Id);
            if (!child.WaitForExit(ChildStopTimeout)) child.Kill(entireProcessTree: true);
            throw;
        }
        return child.ExitCode;
    }
}

/// <summary>POSIX signals the runtime has no API for sending.</summary>
public static class Signals
{
    private const int SigTerm = 15;

    /// <summary>Sends SIGTERM to <paramref name="processId"/> (on Windows, nothing: the console's Ctrl+C reaches the child).</summary>
    public static void Terminate(int processId)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _ = kill(processId, SigTerm);
    }

#pragma warning disable SYSLIB1054 // DllImport: LibraryImport would need unsafe code in this project for one int-only call.
    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
