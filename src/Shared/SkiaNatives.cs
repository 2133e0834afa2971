using SkiaSharp;

namespace TrapReplace.Internal;

/// <summary>
/// The libraries reference SkiaSharp's managed package only; on Linux the application chooses the native package
/// (SkiaSharp.NativeAssets.Linux.NoDependencies or SkiaSharp.NativeAssets.Linux). Linked into Core and Attacks.
/// </summary>
internal static class SkiaNatives
{
    /// <summary>The message a missing native library gets, naming the package that brings it.</summary>
    internal const string Missing =
        "decoding image files needs SkiaSharp's native library (libSkiaSharp), which was not found: on Linux add the " +
        "package SkiaSharp.NativeAssets.Linux.NoDependencies (or SkiaSharp.NativeAssets.Linux) to your application; " +
        "SkiaSharp brings it on Windows and macOS.";

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the package when libSkiaSharp cannot be loaded.</summary>
    internal static void Require()
    {
        try
        {
            _ = SkiaSharpVersion.Native;
        }
        catch (Exception ex) when (ex is DllNotFoundException || ex is TypeInitializationException || ex is EntryPointNotFoundException)
        {
            throw new InvalidOperationException(Missing, ex);
        }
    }
}
