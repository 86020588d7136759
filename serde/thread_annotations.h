// Clang thread-safety annotations (-Wthread-safety): which mutex guards
// which member, and which functions must (or must not) hold it. The
// analysis checks them at compile time under clang (the tsan preset turns it
// on); other compilers see empty macros. As in LevelDB's
// port/thread_annotations.h and Abseil's base/thread_annotations.h.
#ifndef KVSTASH_SERDE_THREAD_ANNOTATIONS_H_
#define KVSTASH_SERDE_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define KVSTASH_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define KVSTASH_THREAD_ANNOTATION(x)
#endif

// A class that is a lock (Mutex), and one that holds a lock for its scope.
#define KVSTASH_CAPABILITY(name) KVSTASH_THREAD_ANNOTATION(capability(name))
#define KVSTASH_SCOPED_CAPABILITY KVSTASH_THREAD_ANNOTATION(scoped_lockable)

// A member read or written only with `mu` held (PT_: what it points to).
#define KVSTASH_GUARDED_BY(mu) KVSTASH_THREAD_ANNOTATION(guarded_by(mu))
#define KVSTASH_PT_GUARDED_BY(mu) KVSTASH_THREAD_ANNOTATION(pt_guarded_by(mu))

// Lock order: this mutex is taken after (or before) the named ones.
#define KVSTASH_ACQUIRED_AFTER(...) KVSTASH_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define KVSTASH_ACQUIRED_BEFORE(...) KVSTASH_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))

// A function called with the mutex held (REQUIRES), or without (EXCLUDES).
#define KVSTASH_REQUIRES(...) KVSTASH_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define KVSTASH_EXCLUDES(...) KVSTASH_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// A function that takes or releases the mutex.
#define KVSTASH_ACQUIRE(...) KVSTASH_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define KVSTASH_RELEASE(...) KVSTASH_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define KVSTASH_ASSERT_CAPABILITY(x) KVSTASH_THREAD_ANNOTATION(assert_capability(x))

// Opts a function out of the analysis; say why next to each use.
#define KVSTASH_NO_THREAD_SAFETY_ANALYSIS KVSTASH_THREAD_ANNOTATION(no_thread_safety_analysis)

#endif  // KVSTASH_SERDE_THREAD_ANNOTATIONS_H_
