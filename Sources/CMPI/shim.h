// OpenMPI's C API for Swift.
//
// Many MPI handles and constants are C macros that expand to casts of addresses of
// library globals (`#define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)`),
// which the Swift importer cannot see. Each such macro gets a `static inline` getter here,
// named `cmpi_<lower-case name without MPI_>` (e.g. `cmpi_comm_world()`).
#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H

#include <mpi.h>

// Communicators
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm cmpi_comm_self(void) { return MPI_COMM_SELF; }
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }
static inline int cmpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int cmpi_undefined(void) { return MPI_UNDEFINED; }

// Datatypes
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int(void) { return MPI_INT; }
static inline MPI_Datatype cmpi_int32_t(void) { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_int64_t(void) { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_uint64_t(void) { return MPI_UINT64_T; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cmpi_char(void) { return MPI_CHAR; }

// Reduction operations
static inline MPI_Op cmpi_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_max(void) { return MPI_MAX; }
static inline MPI_Op cmpi_min(void) { return MPI_MIN; }
static inline MPI_Op cmpi_land(void) { return MPI_LAND; }
static inline MPI_Op cmpi_lor(void) { return MPI_LOR; }
static inline MPI_Op cmpi_replace(void) { return MPI_REPLACE; }
static inline MPI_Op cmpi_no_op(void) { return MPI_NO_OP; }

// Sentinels and null handles
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Win cmpi_win_null(void) { return MPI_WIN_NULL; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int cmpi_lock_shared(void) { return MPI_LOCK_SHARED; }
static inline int cmpi_lock_exclusive(void) { return MPI_LOCK_EXCLUSIVE; }
static inline int cmpi_mode_nocheck(void) { return MPI_MODE_NOCHECK; }
static inline int cmpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }

// Thread levels (enum constants; getters keep the Swift side uniform)
static inline int cmpi_thread_single(void) { return MPI_THREAD_SINGLE; }
static inline int cmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int cmpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int cmpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }

#endif
